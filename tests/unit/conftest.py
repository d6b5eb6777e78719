"""Unit tests import the filter plugins as plain modules."""

import datetime
import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "filter_plugins"))


@functools.cache
def _report_code():
    """callback_plugins/mi_audit.py and its catalog, loaded once."""
    sys.path.insert(0, str(ROOT / "callback_plugins"))
    import mi_audit  # noqa: PLC0415

    return mi_audit, *mi_audit.load_catalog()


def terminal_report(host, generated, status="compliant", site="site_lab", site_name="Lab"):
    """A terminal's own audit report (callback_plugins/mi_audit.py), every control at ``status``,
    as a pull-mode terminal writes it: what the fleet report filters and the collection read."""
    mi_audit, catalog, clauses = _report_code()
    policy = {"mi_site": {"id": site, "name": site_name}, "mi_policy_version": "2026.11"}
    rep = mi_audit.build_report(catalog, clauses, {host: {"policy": policy}}, datetime.date.today(), generated)
    for c in rep["hosts"][host]["controls"].values():
        c["status"] = status
    return rep
