"""Policy filters: the catalog of controls and the cross-field check of the inventory policy.

``mi_validate_policy`` runs in the first play of every playbook, before any task changes a
host, and fails with a message that names the offending field and what is allowed.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_policy
short_description: Control catalog helpers and policy validation for mi-harden
description:
  - C(mi_catalog_index) checks the control catalog (policy/controls.yml) and returns its controls by id.
  - C(mi_validate_policy) checks the project-wide policy data of one host against the catalog
    (policy version, site, waivers, attestation evidence) and returns it normalised.
  - C(mi_waivers_for_host) selects the validated waivers that apply to one host.
"""

EXAMPLES = r"""
catalog: "{{ lookup('file', 'policy/controls.yml') | from_yaml | mi_catalog_index }}"
policy: "{{ {'mi_policy_version': mi_policy_version, 'mi_site': mi_site} | mi_validate_policy(catalog) }}"
"""

RETURN = r"""
_value:
  description: controls keyed by id, or the validated policy mapping.
"""

CONTROL_ID_RE = re.compile(r"^MI-[A-Z]+-\d{2}$")
AUTOMATION = ("automated", "attested")
STATUS = ("implemented", "planned")
SEVERITY = ("high", "medium", "low")
SITE_TYPES = ("hospital", "pharmacy", "clinic", "centre")
CONTROL_FIELDS = {
    "id", "title", "title_zh", "clauses", "automation", "status", "role", "severity",
    "tests", "notes", "issue",
}


def _date(value: Any, field: str) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise AnsibleFilterError(f"{field}: {value!r} is not a date (YYYY-MM-DD)")


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise AnsibleFilterError(f"{where}.{key}: a non-empty text is required")
    return value.strip()


def mi_catalog_index(catalog: Any) -> dict[str, dict[str, Any]]:
    """Check the structure of the control catalog and return its controls keyed by id.

    Raises AnsibleFilterError on a duplicated or malformed id, a missing field, or a value
    outside its allowed set. (Clause coverage and role existence are checked by the unit
    tests, which see the clause register and the roles directory.)
    """
    if not isinstance(catalog, dict) or not isinstance(catalog.get("controls"), list):
        raise AnsibleFilterError("policy/controls.yml: must be a mapping with a 'controls' list")
    index: dict[str, dict[str, Any]] = {}
    for i, ctl in enumerate(catalog["controls"]):
        where = f"controls[{i}]"
        if not isinstance(ctl, dict):
            raise AnsibleFilterError(f"{where}: must be a mapping")
        cid = ctl.get("id")
        if not isinstance(cid, str) or not CONTROL_ID_RE.match(cid):
            raise AnsibleFilterError(f"{where}.id: {cid!r} is not a control id like MI-MEDIA-01")
        where = f"control {cid}"
        if cid in index:
            raise AnsibleFilterError(f"{where}: duplicated id")
        unknown = sorted(set(ctl) - CONTROL_FIELDS)
        if unknown:
            raise AnsibleFilterError(f"{where}: unknown field(s) {unknown}")
        for key in ("title", "title_zh"):
            _text(ctl, key, where)
        for key, allowed in (("automation", AUTOMATION), ("status", STATUS), ("severity", SEVERITY)):
            if ctl.get(key) not in allowed:
                raise AnsibleFilterError(f"{where}.{key}: {ctl.get(key)!r} is not one of {list(allowed)}")
        clauses = ctl.get("clauses")
        if not isinstance(clauses, list) or not clauses or not all(isinstance(c, str) for c in clauses):
            raise AnsibleFilterError(f"{where}.clauses: a non-empty list of clause ids is required")
        if ctl["automation"] == "automated" and ctl["status"] == "implemented" and not ctl.get("role"):
            raise AnsibleFilterError(f"{where}.role: an implemented automated control names its role")
        if ctl["status"] == "planned" and not isinstance(ctl.get("issue"), int):
            raise AnsibleFilterError(f"{where}.issue: a planned control names the issue that builds it")
        index[cid] = ctl
    return index


def _check_control(cid: Any, catalog: dict[str, Any], where: str, automation: str | None = None) -> str:
    if cid not in catalog:
        raise AnsibleFilterError(f"{where}.control: {cid!r} is not a control of the catalog (policy/controls.yml)")
    if automation and catalog[cid]["automation"] != automation:
        raise AnsibleFilterError(f"{where}.control: {cid} is {catalog[cid]['automation']}, not {automation}")
    return cid


def _check_waivers(waivers: Any, catalog: dict[str, Any]) -> list[dict[str, Any]]:
    if waivers is None:
        return []
    if not isinstance(waivers, list):
        raise AnsibleFilterError("mi_waivers: must be a list of waivers")
    out = []
    for i, w in enumerate(waivers):
        where = f"mi_waivers[{i}]"
        if not isinstance(w, dict):
            raise AnsibleFilterError(f"{where}: must be a mapping (control, reason, approver, expires, hosts or groups)")
        cid = _check_control(w.get("control"), catalog, where)
        where = f"{where} ({cid})"
        if "expires" not in w:
            raise AnsibleFilterError(f"{where}.expires: every waiver has an expiry date (YYYY-MM-DD)")
        expires = _date(w["expires"], f"{where}.expires")
        for key in ("hosts", "groups"):
            if key in w and (not isinstance(w[key], list) or not all(isinstance(x, str) for x in w[key])):
                raise AnsibleFilterError(f"{where}.{key}: must be a list of names")
        out.append({
            "control": cid,
            "reason": _text(w, "reason", where),
            "approver": _text(w, "approver", where),
            "expires": expires.isoformat(),
            "hosts": w.get("hosts"),
            "groups": w.get("groups"),
        })
    return out


def _check_evidence(evidence: Any, catalog: dict[str, Any]) -> list[dict[str, Any]]:
    if evidence is None:
        return []
    if not isinstance(evidence, list):
        raise AnsibleFilterError("mi_evidence: must be a list of evidence records")
    out = []
    for i, e in enumerate(evidence):
        where = f"mi_evidence[{i}]"
        if not isinstance(e, dict):
            raise AnsibleFilterError(f"{where}: must be a mapping (control, by, date, reference, valid_until)")
        cid = _check_control(e.get("control"), catalog, where, automation="attested")
        where = f"{where} ({cid})"
        date = _date(e.get("date"), f"{where}.date")
        valid_until = _date(e.get("valid_until"), f"{where}.valid_until")
        if valid_until < date:
            raise AnsibleFilterError(f"{where}.valid_until: {valid_until} is before the evidence date {date}")
        out.append({
            "control": cid,
            "by": _text(e, "by", where),
            "reference": _text(e, "reference", where),
            "date": date.isoformat(),
            "valid_until": valid_until.isoformat(),
        })
    return out


def mi_validate_policy(policy: Any, catalog: dict[str, Any]) -> dict[str, Any]:
    """Check the project-wide policy of one host against the catalog; return it normalised.

    ``policy`` holds: mi_policy_version (text), mi_site (id, name, type), mi_responsible
    (name, contact: the named specialist of clause TWO-1), mi_waivers, mi_evidence.
    ``catalog`` is the output of mi_catalog_index.
    """
    if not isinstance(policy, dict):
        raise AnsibleFilterError("policy: must be a mapping of the mi_* policy variables")
    version = policy.get("mi_policy_version")
    if not isinstance(version, str) or not version.strip():
        raise AnsibleFilterError("mi_policy_version: a non-empty text is required (e.g. '2026.11')")
    site = policy.get("mi_site")
    if not isinstance(site, dict):
        raise AnsibleFilterError("mi_site: a mapping with id, name and type is required")
    for key in ("id", "name"):
        _text(site, key, "mi_site")
    if site.get("type") not in SITE_TYPES:
        raise AnsibleFilterError(f"mi_site.type: {site.get('type')!r} is not one of {list(SITE_TYPES)}")
    responsible = policy.get("mi_responsible")
    if responsible is not None:
        if not isinstance(responsible, dict):
            raise AnsibleFilterError("mi_responsible: a mapping with name and contact is required")
        _text(responsible, "name", "mi_responsible")
    return {
        "mi_policy_version": version.strip(),
        "mi_site": {"id": site["id"], "name": site["name"], "type": site["type"]},
        "mi_responsible": responsible,
        "mi_waivers": _check_waivers(policy.get("mi_waivers"), catalog),
        "mi_evidence": _check_evidence(policy.get("mi_evidence"), catalog),
    }


def mi_waivers_for_host(waivers: list[dict[str, Any]], host: str, groups: list[str]) -> list[dict[str, Any]]:
    """Return the (validated) waivers that apply to ``host``.

    A waiver with neither ``hosts`` nor ``groups`` applies to every host that sees it; with
    either, the host must be named or be a member of a named group.
    """
    out = []
    for w in waivers or []:
        hosts, wgroups = w.get("hosts"), w.get("groups")
        if (hosts is None and wgroups is None) or host in (hosts or []) or set(groups or []) & set(wgroups or []):
            out.append(w)
    return out


class FilterModule:
    """mi-harden policy filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_catalog_index": mi_catalog_index,
            "mi_validate_policy": mi_validate_policy,
            "mi_waivers_for_host": mi_waivers_for_host,
        }
