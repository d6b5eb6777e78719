"""scripts/bench.py compares the mitogen audit with the linear one control by control."""

import json
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402


def _report(path, host, statuses):
    path.mkdir()
    controls = {cid: {"status": st, "title": cid} for cid, st in statuses.items()}
    (path / "report.json").write_text(json.dumps({"hosts": {host: {"controls": controls}}}))
    return path


def test_same_statuses_on_two_terminals_are_the_same_report(tmp_path):
    a = _report(tmp_path / "a", "mi-bench-01", {"MI-NET-01": "compliant", "MI-BAK-01": "drift"})
    b = _report(tmp_path / "b", "mi-bench-m1", {"MI-BAK-01": "drift", "MI-NET-01": "compliant"})
    assert bench.same_report(a, b) == {"same": True, "controls": 2, "differ": []}


def test_a_control_that_differs_is_named(tmp_path):
    a = _report(tmp_path / "a", "mi-bench-01", {"MI-NET-01": "compliant", "MI-BAK-01": "drift"})
    b = _report(tmp_path / "b", "mi-bench-m1", {"MI-NET-01": "drift", "MI-BAK-01": "drift"})
    res = bench.same_report(a, b)
    assert res["same"] is False
    assert res["differ"] == ["0:MI-NET-01: compliant / drift"]


def test_a_control_missing_from_one_report_differs(tmp_path):
    a = _report(tmp_path / "a", "h", {"MI-NET-01": "compliant", "MI-AV-01": "compliant"})
    b = _report(tmp_path / "b", "h", {"MI-NET-01": "compliant"})
    assert bench.same_report(a, b)["differ"] == ["0:MI-AV-01: compliant / None"]


def test_a_missing_report_is_not_the_same(tmp_path):
    a = _report(tmp_path / "a", "h", {"MI-NET-01": "compliant"})
    res = bench.same_report(a, tmp_path / "nothing")
    assert res["same"] is False and "not readable" in res["why"]
