"""Action mi_fleet_report: the fleet report of many terminals' own reports, on the controller.

playbooks/collect_reports.yml used to merge the reports with the mi_fleet_report filter into
a fact and write the three files with a copy loop. Ansible templates a fact's whole
structure each time a task uses it: for 1000 terminals (86 MB of reports, a 70 MB
report.json) that took 56 of the playbook's 79 s and 1.1 GiB, against 6 s for the same
Python work alone (docs/BENCHMARKS.md, "Session 9"). This
action reads, merges, renders and writes in one step on the controller and returns only
the summary. The merge and the renderings are the filters' own (filter_plugins/mi_report.py),
so the files are those the filters make.
"""

from __future__ import annotations

import filecmp
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from ansible.errors import AnsibleActionFail, AnsibleFilterError
from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
name: mi_fleet_report
short_description: Merge terminal audit reports into one fleet report and write its files
description:
  - Runs on the controller only. Reads the report.json files in O(reports), merges them
    (the newest report per host wins; a host of O(hosts) without one is in error for every
    control; MI-AUDIT-01 is drift when a host's newest report is older than
    O(max_age_hours)), and writes report.json, report.xml and report.html to O(dest), with
    overview.json and overview.html beside them (counts per site and per control and the
    findings only: a page that stays small for thousands of terminals).
  - In check mode nothing is written; the result says which files would change.
options:
  reports:
    description: paths of report.json files on the controller
    type: list
    elements: path
    required: true
  hosts:
    description: the terminals expected in the report
    type: list
    elements: str
    default: []
  max_age_hours:
    description: hours after which a terminal's newest report is drift (MI-AUDIT-01)
    type: float
    default: 48
  dest:
    description: directory of the fleet report (created with mode 0750)
    type: path
    required: true
  lang:
    description: language of report.html
    type: str
    choices: [zh, en]
    default: zh
  sites:
    description: also write one report per site, O(dest)/sites/<site id>/report.{json,xml,html}
      (the same schema, the site's terminals only), for the auditor who signs for that site
    type: bool
    default: false
  full:
    description: write the fleet-wide report.{json,xml,html}; false writes only the overview (and
      the per-site reports with O(sites)), for a province that signs per site and keeps the
      evidence once
    type: bool
    default: true
"""

RETURN = r"""
summary:
  description: the audit's short summary lines of the fleet report
  type: list
statuses:
  description: number of host x control results per status
  type: dict
hosts:
  description: number of terminals in the report
  type: int
files:
  description: the paths of the fleet report's files (report.*, overview.*)
  type: list
written:
  description: the files that differed (and were written, or would be in check mode)
  type: list
sites:
  description: the directories of the per-site reports (with O(sites))
  type: list
"""

_FILTERS = Path(__file__).resolve().parents[1] / "filter_plugins" / "mi_report.py"
_filters: ModuleType | None = None


def _report_filters() -> ModuleType:
    """filter_plugins/mi_report.py, loaded once under a name of its own."""
    global _filters  # noqa: PLW0603
    if _filters is None:
        spec = importlib.util.spec_from_file_location("mi_harden_report_filters", _FILTERS)
        if spec is None or spec.loader is None:
            raise AnsibleActionFail(f"mi_fleet_report: cannot load {_FILTERS}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _filters = module
    return _filters


def read_reports(paths: list[str]) -> list[dict[str, Any]]:
    """Parse each report.json; an unreadable or non-JSON file is named in the error.

    Keys and string values are shared between the reports (the same titles, task names and
    details repeat on every terminal): half the memory of the parsed reports.
    """
    memo: dict[str, str] = {}

    def shared(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        return {memo.setdefault(k, k): memo.setdefault(v, v) if type(v) is str else v for k, v in pairs}

    reports = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                rep = json.load(f, object_pairs_hook=shared)
        except OSError as exc:
            raise AnsibleActionFail(f"reports: cannot read {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise AnsibleActionFail(f"reports: {path} is not JSON: {exc}") from exc
        if not _report_filters().is_report(rep):
            raise AnsibleActionFail(f"reports: {path} is not an mi-harden report (schema_version 1)")
        reports.append(rep)
    return reports


def same_file(new: Path, old: Path, mode: int) -> bool:
    """``old`` exists with ``new``'s bytes and the mode."""
    try:
        return (old.stat().st_mode & 0o7777) == mode and filecmp.cmp(new, old, shallow=False)
    except FileNotFoundError:
        return False


def write_files(render: Callable[[str], list[str]], dest: Path, check: bool) -> tuple[bool, list[str], list[str]]:
    """The files ``render`` writes into a directory, in ``dest`` (mode 0640, the directory
    0750): rendered beside the old ones (in a temporary directory in check mode, which writes
    nothing), each replacing the old file only when it differs. Returns (changed, names of
    the files, names of those that differ)."""
    changed = not dest.is_dir()
    if changed and not check:
        dest.mkdir(mode=0o750, parents=True)
    new = Path(tempfile.mkdtemp(prefix=".mi-fleet-report-", dir=None if check else dest))
    written = []
    try:
        names = [Path(p).name for p in render(str(new))]
        for name in names:
            os.chmod(new / name, 0o640)
            if same_file(new / name, dest / name, 0o640):
                continue
            changed = True
            written.append(name)
            if not check:
                os.replace(new / name, dest / name)
    finally:
        shutil.rmtree(new, ignore_errors=True)
    return changed, names, written


class ActionModule(ActionBase):
    """Merge, render and write the fleet report on the controller."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("reports", "hosts", "max_age_hours", "dest", "lang", "sites", "full"))
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec={
            "reports": {"type": "list", "elements": "path", "required": True},
            "hosts": {"type": "list", "elements": "str", "default": []},
            "max_age_hours": {"type": "float", "default": 48.0},
            "dest": {"type": "path", "required": True},
            "lang": {"type": "str", "choices": ["zh", "en"], "default": "zh"},
            "sites": {"type": "bool", "default": False},
            "full": {"type": "bool", "default": True},
        })
        filters = _report_filters()
        try:
            fleet = filters.mi_fleet_report(read_reports(args["reports"]), args["hosts"], args["max_age_hours"])
        except AnsibleFilterError as exc:  # names the field; keep its message
            raise AnsibleActionFail(str(exc)) from exc

        dest = Path(args["dest"])
        check = bool(self._task.check_mode)
        mod = filters.report_module()
        lang, sites, full = args["lang"], args["sites"], args["full"]
        changed, names, written = write_files(
            lambda d: (mod.write_report(fleet, d, lang) if full else []) + mod.write_overview(fleet, d, lang, sites),
            dest, check)
        site_dirs = []
        if sites:
            for key, site in mod.site_reports(fleet).items():
                site_dirs.append(str(dest / "sites" / key))
                c, _, w = write_files(lambda d, site=site: mod.write_report(site, d, lang), dest / "sites" / key, check)
                changed |= c
                written += [f"sites/{key}/{name}" for name in w]
        result.update(
            changed=changed,
            summary=filters.mi_report_summary(fleet),
            statuses=fleet["summary"]["statuses"],
            hosts=fleet["summary"]["hosts"],
            files=[str(dest / name) for name in names],
            written=written,
            sites=site_dirs,
        )
        return result
