"""callback_plugins/mi_audit.py: status rules, report assembly, JUnit and HTML rendering."""

import datetime as dt
import json
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "callback_plugins"))
import mi_audit  # noqa: E402

TODAY = dt.date(2026, 11, 22)
AUTO = {"id": "MI-MEDIA-02", "automation": "automated"}
ATT = {"id": "MI-PROC-06", "automation": "attested"}
OK = {"task": "t", "result": "ok", "detail": ""}
CHANGED = {"task": "t", "result": "changed", "detail": "+ install cfg80211 /bin/false"}
FAILED = {"task": "t", "result": "failed", "detail": "boom"}
WAIVER = {"control": "MI-MEDIA-02", "reason": "scanner", "approver": "Li", "expires": "2026-12-31"}


@pytest.mark.parametrize(
    ("findings", "signals", "expected"),
    [
        ([OK], {}, "compliant"),
        ([OK, CHANGED], {}, "drift"),
        ([CHANGED, FAILED], {}, "error"),
        ([OK], {"drift": ["signatures 9 days old"]}, "drift"),
        ([OK], {"not_applicable": ["no USB bus"]}, "not_applicable"),
        ([CHANGED], {"not_applicable": ["no USB bus"]}, "drift"),
        ([], {}, "evidence_missing"),
        ([CHANGED], {"waived": ["Internet window open until 12:00"]}, "waived"),
    ],
)
def test_automated_status(findings, signals, expected):
    assert mi_audit.control_status(AUTO, findings, signals, [], [], TODAY)[0] == expected


def test_valid_waiver_waives_and_keeps_the_finding():
    status, ev = mi_audit.control_status(AUTO, [CHANGED], {}, [WAIVER], [], TODAY)
    assert status == "waived"
    assert "finding: drift" in ev[-1]["detail"]


def test_expired_waiver_is_drift_and_says_so():
    status, ev = mi_audit.control_status(AUTO, [OK], {}, [dict(WAIVER, expires="2026-11-21")], [], TODAY)
    assert status == "drift"
    assert ev[-1]["detail"].startswith("waiver expired on 2026-11-21")


def test_attested_needs_valid_evidence():
    rec = {"control": "MI-PROC-06", "by": "Wang", "date": "2026-01-01", "reference": "R1", "valid_until": "2026-11-22"}
    assert mi_audit.control_status(ATT, [], {}, [], [rec], TODAY)[0] == "attested"
    status, ev = mi_audit.control_status(ATT, [], {}, [], [dict(rec, valid_until="2026-11-21")], TODAY)
    assert status == "evidence_missing" and "evidence expired" in ev[0]["detail"]
    assert mi_audit.control_status(ATT, [], {}, [], [], TODAY)[0] == "evidence_missing"


def test_finding_renders_the_diff():
    f = mi_audit.finding_from_result("task", "changed", {"diff": {"before": "a\n", "after": "a\nb\n",
                                                                  "before_header": "/etc/x", "after_header": "/etc/x"}})
    assert "+b" in f["detail"] and "/etc/x" in f["detail"]


def _report():
    catalog, clauses = mi_audit.load_catalog(ROOT)
    implemented = [c["id"] for c in catalog["controls"] if c["status"] == "implemented"]
    hosts = {
        "t1": {"findings": {implemented[0]: [CHANGED]}, "signals": {}, "waivers": [],
               "policy": {"mi_site": {"id": "s1", "name": "Site 1"}, "mi_policy_version": "2026.11", "mi_evidence": []},
               "register": {"hostname": "t1"}},
        "t2": {"unreachable": True, "unreachable_msg": "ssh: timeout", "findings": {}, "signals": {},
               "policy": {"mi_site": {"id": "s2", "name": "Site 2"}, "mi_policy_version": "2026.11"}},
    }
    return mi_audit.build_report(catalog, clauses, hosts, TODAY, "2026-11-22T10:00:00+00:00"), implemented


def test_report_matches_its_schema_and_counts():
    report, implemented = _report()
    jsonschema.validate(report, json.loads((ROOT / "docs/report.schema.json").read_text()))
    assert report["hosts"]["t1"]["controls"][implemented[0]]["status"] == "drift"
    assert set(c["status"] for c in report["hosts"]["t2"]["controls"].values()) == {"error"}
    assert report["summary"]["statuses"]["error"] == len(implemented)
    assert sorted(report["summary"]["sites"]) == ["s1", "s2"]
    assert report["policy_version"] == "2026.11"


def test_junit_and_html():
    report, implemented = _report()
    suites = ET.fromstring(mi_audit.render_junit(report).split("\n", 1)[1])
    assert int(suites.get("tests")) == 2 * len(implemented)
    assert int(suites.get("errors")) == len(implemented)
    page = mi_audit.render_html(report, "zh")
    assert page.count("<tr class='host'") == 2
    assert "偏离" in page
    assert "src=" not in page and "href='http" not in page and 'href="http' not in page  # self-contained
    assert "Terminal x control matrix" in mi_audit.render_html(report, "en")


def test_junit_written_host_by_host_is_the_whole_tree_indented():
    """iter_junit serializes one testsuite at a time; the file must be what ElementTree makes
    of the whole tree (valid XML, the same indentation and totals), with and without hosts."""
    report, implemented = _report()
    for i, status in enumerate(("waived", "not_applicable", "compliant", "attested")):
        report["hosts"]["t1"]["controls"][implemented[i + 1]]["status"] = status
    empty = dict(report, hosts={})
    for rep in (report, empty):
        whole = ET.Element("testsuites", name="mi-harden audit")
        for host, h in rep["hosts"].items():
            whole.append(mi_audit._junit_suite(host, h))
        for k in ("tests", "failures", "errors", "skipped"):
            whole.set(k, str(sum(int(s.get(k)) for s in whole)))
        ET.indent(whole)
        expected = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(whole, encoding="unicode") + "\n"
        assert mi_audit.render_junit(rep) == expected
    suites = ET.fromstring(mi_audit.render_junit(report).split("\n", 1)[1])
    assert (suites.get("skipped"), suites.get("errors")) == ("2", str(len(implemented)))


def test_report_json_in_pieces_is_what_json_dumps_makes():
    """iter_json writes report.json faster than Python's indenting encoder and in pieces; the
    text must be json.dumps(..., ensure_ascii=False, indent=2) to the byte, whatever the value."""

    class Text(str):  # ansible hands over str and dict subclasses
        pass

    class Mapping(dict):
        pass

    report, _ = _report()
    odd = {"numbers": [0, -7, 2.5, 1e300, float("nan"), float("inf"), -float("inf"), True, False, None],
           "empty": [(), [], {}, ""], 3: "int key", 2.5: "float key", True: "bool key", None: "null key",
           "\x1b\n\t\"\\ 医保 \u2028": Mapping(deep=[Text("subclass"), {"x": {"y": [[]]}}]), "tuple": (1, ("a",))}
    for value in (report, odd, [], {}, "text", 0):
        expected = json.dumps(value, ensure_ascii=False, indent=2)
        assert "".join(mi_audit.iter_json(value)) == expected
        assert "".join(mi_audit.iter_json(value, chunk=1)) == expected
    assert len(list(mi_audit.iter_json(report, chunk=1))) > len(report["hosts"])  # pieces, not one text
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        "".join(mi_audit.iter_json({"x": object()}))
