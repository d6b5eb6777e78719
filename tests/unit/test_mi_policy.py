"""Filters of filter_plugins/mi_policy.py: catalog structure and policy validation."""

import copy

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from conftest import ROOT

from mi_policy import mi_catalog_index, mi_validate_policy

CATALOG = mi_catalog_index(yaml.safe_load((ROOT / "policy/controls.yml").read_text()))
POLICY = {
    "mi_policy_version": "2026.11",
    "mi_site": {"id": "s1", "name": "Site", "type": "pharmacy"},
    "mi_responsible": {"name": "Chen Jing"},
    "mi_waivers": [{"control": "MI-MEDIA-02", "reason": "scanner", "approver": "Li", "expires": "2026-12-31",
                    "groups": ["site_pharm_b"]}],
    "mi_evidence": [{"control": "MI-PROC-06", "by": "Wang", "date": "2026-09-01", "reference": "R-1",
                     "valid_until": "2027-08-31"}],
}


def _with(path, value):
    policy = copy.deepcopy(POLICY)
    target = policy
    *parents, last = path
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return policy


def test_valid_policy_is_returned_normalised():
    out = mi_validate_policy(POLICY, CATALOG)
    assert out["mi_waivers"][0]["expires"] == "2026-12-31"
    assert out["mi_evidence"][0]["control"] == "MI-PROC-06"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("mi_policy_version",), "", "mi_policy_version: a non-empty text"),
        (("mi_site", "type"), "supermarket", r"mi_site.type: 'supermarket' is not one of"),
        (("mi_site", "id"), KeyError, r"mi_site.id: a non-empty text"),
        (("mi_waivers", 0, "control"), "MI-NOPE-99", r"mi_waivers\[0\].control: 'MI-NOPE-99' is not a control of the catalog"),
        (("mi_waivers", 0, "expires"), KeyError, r"mi_waivers\[0\] \(MI-MEDIA-02\).expires: every waiver has an expiry"),
        (("mi_waivers", 0, "expires"), "31/12/2026", r"expires: '31/12/2026' is not a date"),
        (("mi_waivers", 0, "approver"), "", r"mi_waivers\[0\] \(MI-MEDIA-02\).approver"),
        (("mi_waivers", 0, "groups"), "site_pharm_b", r"groups: must be a list"),
        (("mi_evidence", 0, "control"), "MI-MEDIA-01", r"mi_evidence\[0\].control: MI-MEDIA-01 is automated, not attested"),
        (("mi_evidence", 0, "valid_until"), "2026-01-01", r"valid_until: 2026-01-01 is before the evidence date"),
        (("mi_evidence", 0, "reference"), None, r"mi_evidence\[0\] \(MI-PROC-06\).reference"),
    ],
)
def test_bad_policy_names_the_field(path, value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_validate_policy(_with(path, value), CATALOG)


def test_catalog_rejects_duplicates_and_bad_ids():
    ctl = {"id": "MI-X-01", "title": "t", "title_zh": "t", "clauses": ["GZ-1"], "automation": "attested",
           "status": "implemented", "severity": "low"}
    with pytest.raises(AnsibleFilterError, match="control MI-X-01: duplicated id"):
        mi_catalog_index({"controls": [ctl, dict(ctl)]})
    with pytest.raises(AnsibleFilterError, match=r"controls\[0\].id: 'MI-1'"):
        mi_catalog_index({"controls": [dict(ctl, id="MI-1")]})
    with pytest.raises(AnsibleFilterError, match="control MI-X-01.severity"):
        mi_catalog_index({"controls": [dict(ctl, severity="urgent")]})
    with pytest.raises(AnsibleFilterError, match="control MI-X-01.role: an implemented automated control"):
        mi_catalog_index({"controls": [dict(ctl, automation="automated")]})
    with pytest.raises(AnsibleFilterError, match="control MI-X-01.issue"):
        mi_catalog_index({"controls": [dict(ctl, status="planned")]})


def test_waivers_apply_by_host_or_group():
    from mi_policy import mi_waivers_for_host

    waivers = mi_validate_policy(POLICY, CATALOG)["mi_waivers"]
    everyone = dict(waivers[0], groups=None)
    by_host = dict(waivers[0], groups=None, hosts=["t9"])
    assert mi_waivers_for_host(waivers, "t1", ["terminals", "site_pharm_b"]) == waivers
    assert mi_waivers_for_host(waivers, "t1", ["terminals", "site_hosp_a"]) == []
    assert mi_waivers_for_host([everyone], "t1", []) == [everyone]
    assert mi_waivers_for_host([by_host], "t1", ["site_pharm_b"]) == []
    assert mi_waivers_for_host([by_host], "t9", []) == [by_host]
