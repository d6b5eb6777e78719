"""Report filters: one fleet report from the terminals' own audit reports (pull mode).

The report logic and rendering live in callback_plugins/mi_audit.py (the audit's callback);
these filters load that module and reuse it, so a fleet report has exactly the JSON, JUnit
and HTML of an audit report (docs/report.schema.json). Used by playbooks/collect_reports.yml.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_report
short_description: Fleet report of mi-harden from the terminals' own audit reports
description:
  - C(mi_fleet_report) merges report.json documents (the newest per host wins) into one
    report of the same schema, with the controller's catalog; every host of the second
    argument without a report is in error; MI-AUDIT-01 is drift when a host's newest
    report is older than the third argument (hours).
  - C(mi_report_files) renders a report as the audit's three files
    (report.json, report.xml, report.html) and returns {file name: text}.
  - C(mi_report_summary) returns the audit's short summary lines.
options:
  _input:
    description: a list of reports (parsed or JSON text), or one report.
    type: raw
    required: true
"""

EXAMPLES = r"""
fleet: "{{ query('ansible.builtin.file', *paths) | mi_fleet_report(groups.terminals, 48) }}"
files: "{{ fleet | mi_report_files('en') }}"
"""

RETURN = r"""
_value:
  description: the fleet report, the rendered files, or the summary lines.
"""

_CALLBACK = Path(__file__).resolve().parents[1] / "callback_plugins" / "mi_audit.py"
_module: ModuleType | None = None


def report_module() -> ModuleType:
    """callback_plugins/mi_audit.py, loaded once under a name of its own (also used by
    action_plugins/mi_fleet_report.py, which writes the files with its write_report)."""
    global _module  # noqa: PLW0603
    if _module is None:
        spec = importlib.util.spec_from_file_location("mi_harden_report", _CALLBACK)
        if spec is None or spec.loader is None:
            raise AnsibleFilterError(f"mi_report: cannot load {_CALLBACK}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _module = module
    return _module


def is_report(rep: Any) -> bool:
    """A parsed mi-harden report (schema_version 1, hosts by name); also the collection
    action's check of each file it reads."""
    return isinstance(rep, dict) and rep.get("schema_version") == 1 and isinstance(rep.get("hosts"), dict)


def mi_fleet_report(reports: Any, expected_hosts: Any = None, max_age_hours: Any = 48) -> dict[str, Any]:
    """Merge terminal reports (dicts or JSON texts) into one fleet report."""
    if not isinstance(reports, list):
        raise AnsibleFilterError(f"mi_fleet_report: a list of reports is required, got {type(reports).__name__}")
    parsed = []
    for i, rep in enumerate(reports):
        if isinstance(rep, str):
            try:
                rep = json.loads(rep)
            except ValueError as exc:
                raise AnsibleFilterError(f"mi_fleet_report: report {i} is not JSON: {exc}") from exc
        if not is_report(rep):
            raise AnsibleFilterError(f"mi_fleet_report: report {i} is not an mi-harden report (schema_version 1)")
        parsed.append(rep)
    expected = [str(h) for h in (expected_hosts or [])]
    try:
        max_age = float(max_age_hours)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"mi_fleet_report: max_age_hours must be a number, got {max_age_hours!r}") from exc
    mod = report_module()
    catalog, clauses = mod.load_catalog()
    now = _dt.datetime.now(_dt.timezone.utc)
    return mod.fleet_report(parsed, expected, catalog, clauses, now, max_age)


def mi_report_files(report: dict[str, Any], lang: str = "zh") -> dict[str, str]:
    """The audit's three files of a report: {name: text}."""
    if lang not in ("zh", "en"):
        raise AnsibleFilterError(f"report_lang: {lang!r} is not one of zh, en")
    mod = report_module()
    return {
        "report.json": json.dumps(report, ensure_ascii=False, indent=2) + "\n",
        "report.xml": mod.render_junit(report),
        "report.html": mod.render_html(report, lang),
    }


def mi_report_summary(report: dict[str, Any]) -> list[str]:
    """The short summary an audit prints."""
    return report_module().summary_lines(report)


class FilterModule:
    """mi-harden report filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_fleet_report": mi_fleet_report,
            "mi_report_files": mi_report_files,
            "mi_report_summary": mi_report_summary,
        }
