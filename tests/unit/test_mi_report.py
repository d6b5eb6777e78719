"""filter_plugins/mi_report.py: the fleet report from the terminals' own reports (pull
mode) has the audit's schema and rendering (callback_plugins/mi_audit.py)."""

import datetime as dt
import json

import jsonschema
import pytest
from ansible.errors import AnsibleFilterError
from conftest import ROOT, terminal_report

import mi_report

SCHEMA = json.loads((ROOT / "docs/report.schema.json").read_text())


def test_fleet_report_takes_the_newest_report_and_flags_missing_terminals():
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    recent = (now - dt.timedelta(hours=2)).isoformat()
    old = (now - dt.timedelta(hours=100)).isoformat()
    reports = [terminal_report("t1", old, "drift"), terminal_report("t1", recent), terminal_report("t2", old)]
    fleet = mi_report.mi_fleet_report([json.dumps(r) for r in reports], ["t1", "t2", "t3"], 48)
    jsonschema.validate(fleet, SCHEMA)
    hosts = fleet["hosts"]
    assert sorted(hosts) == ["t1", "t2", "t3"]
    assert hosts["t1"]["controls"]["MI-MEDIA-01"]["status"] == "compliant"  # the newer report won
    assert hosts["t1"]["controls"]["MI-AUDIT-01"]["status"] == "compliant"
    assert hosts["t2"]["controls"]["MI-AUDIT-01"]["status"] == "drift"  # its newest report is 100 h old
    assert "100 h old" in hosts["t2"]["controls"]["MI-AUDIT-01"]["evidence"][-1]["detail"]
    assert {c["status"] for c in hosts["t3"]["controls"].values()} == {"error"}
    assert fleet["summary"]["hosts"] == 3
    assert sum(fleet["summary"]["statuses"].values()) == 3 * fleet["summary"]["controls"]
    assert fleet["summary"]["sites"]["site_lab"]["name"] == "Lab"


def test_a_control_missing_from_an_older_report_is_evidence_missing():
    rep = terminal_report("t1", dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())
    del rep["hosts"]["t1"]["controls"]["MI-MEDIA-02"]
    fleet = mi_report.mi_fleet_report([rep], ["t1"])
    ctl = fleet["hosts"]["t1"]["controls"]["MI-MEDIA-02"]
    assert ctl["status"] == "evidence_missing" and "not in this terminal's report" in ctl["evidence"][0]["detail"]
    jsonschema.validate(fleet, SCHEMA)


def test_files_are_the_audit_renderings():
    rep = terminal_report("t1", dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())
    files = mi_report.mi_report_files(mi_report.mi_fleet_report([rep], []), "en")
    assert json.loads(files["report.json"])["hosts"]["t1"]
    assert files["report.xml"].startswith('<?xml') and 'testsuite name="t1"' in files["report.xml"]
    assert "Medical insurance terminal compliance audit report" in files["report.html"]


def test_not_a_report_is_refused():
    with pytest.raises(AnsibleFilterError, match="report 0 is not JSON"):
        mi_report.mi_fleet_report(["{nope"], [])
    with pytest.raises(AnsibleFilterError, match="report 0 is not an mi-harden report"):
        mi_report.mi_fleet_report([{"hosts": {}}], [])
