"""playbooks/collect_reports.yml with reports_from (no terminal contacted), run by the real
ansible-playbook: the action mi_fleet_report writes the files the filters render, check mode
writes nothing, a broken report is named, and the summary stays short for a large fleet.
The spool mode (fetch from the terminals) is tested in molecule/pull."""

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
from conftest import ROOT, terminal_report

import mi_report

SCHEMA = json.loads((ROOT / "docs/report.schema.json").read_text())


def spool(tmp_path: Path, hosts: list[str], sites: dict[str, str] | None = None) -> Path:
    """DIR/<host>/<timestamp>/report.json as the collection's spool mode leaves them."""
    made = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    src = tmp_path / "uploaded"
    for i, host in enumerate(hosts):
        d = src / host / made.strftime("%Y%m%dT%H%M%SZ")
        d.mkdir(parents=True)
        site = (sites or {}).get(host, "site_lab")
        rep = terminal_report(host, made.isoformat(), "drift" if i % 2 else "compliant", site, site.title())
        (d / "report.json").write_text(json.dumps(rep, ensure_ascii=False))
    return src


def collect(tmp_path: Path, hosts: list[str], src: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    inv = tmp_path / "hosts.yml"
    inv.write_text(json.dumps({"terminals": {"hosts": {h: {} for h in hosts}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_NOCOLOR="1")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inv),
           str(ROOT / "playbooks/collect_reports.yml"), "-e", f"reports_from={src}",
           "-e", f"fleet_report_dir={out}", "-e", "report_lang=en", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def without_time(text: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:+]+", "T", text)


def test_the_fleet_report_is_the_filters_rendering_and_check_mode_writes_nothing(tmp_path):
    hosts = ["t1", "t2", "t3"]
    src = spool(tmp_path, hosts[:2])  # t3 has no report
    out = tmp_path / "fleet"

    checked = collect(tmp_path, hosts, src, out, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not out.exists(), "check mode created the fleet report"

    proc = collect(tmp_path, hosts, src, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fleet = json.loads((out / "report.json").read_text())
    jsonschema.validate(fleet, SCHEMA)
    assert sorted(fleet["hosts"]) == hosts
    assert {c["status"] for c in fleet["hosts"]["t3"]["controls"].values()} == {"error"}
    assert fleet["hosts"]["t2"]["controls"]["MI-MEDIA-01"]["status"] == "drift"
    reports = [json.loads(p.read_text()) for p in sorted(src.rglob("report.json"))]
    files = mi_report.mi_report_files(mi_report.mi_fleet_report(reports, hosts), "en")
    for name, text in files.items():
        assert without_time((out / name).read_text()) == without_time(text), name
        assert (out / name).stat().st_mode & 0o777 == 0o640
    assert "fleet report: " + str(out) in proc.stdout

    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = collect(tmp_path, hosts, src, out, "--check")
    assert again.returncode == 0, again.stdout + again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes, "check mode rewrote a file"


def test_a_broken_report_is_named(tmp_path):
    src = spool(tmp_path, ["t1"])
    bad = src / "t2" / "20260101T000000Z" / "report.json"
    bad.parent.mkdir(parents=True)
    for text, says in (("{not json", "is not JSON"), ('{"hosts": []}', "is not an mi-harden report")):
        bad.write_text(text)
        proc = collect(tmp_path, ["t1", "t2"], src, tmp_path / "fleet")
        assert proc.returncode != 0
        assert f"reports: {bad} {says}" in proc.stdout + proc.stderr
        assert not (tmp_path / "fleet" / "report.json").exists()


def test_merging_leaves_the_terminals_reports_as_they_were():
    """The fleet shares the reports' entries (no deep copy): MI-AUDIT-01's collection
    evidence must go to the fleet's copy only."""
    rep = terminal_report("t1", dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())
    before = json.dumps(rep, sort_keys=True)
    fleet = mi_report.mi_fleet_report([rep], ["t1"])
    assert fleet["hosts"]["t1"]["controls"]["MI-AUDIT-01"]["evidence"][-1]["task"] == "collection"
    assert json.dumps(rep, sort_keys=True) == before


def test_the_summary_names_at_most_fifty_hosts():
    made = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    reports = [terminal_report(f"t{i:03d}", made, "drift" if i % 3 == 0 else "compliant") for i in range(60)]
    lines = mi_report.mi_report_summary(mi_report.mi_fleet_report(reports, []))
    assert lines[0].startswith("mi-harden audit: 60 host(s)")
    assert len(lines) == 1 + 50 + 1
    assert lines[50].startswith("  t049: ")
    # t050..t059: 10 more, of which t051, t054, t057 drift
    assert lines[-1] == "  ... 10 more host(s), 3 of them with drift, error or missing evidence (the report lists every host)"


def test_each_site_gets_its_own_report(tmp_path):
    hosts = ["h1", "h2", "p1", "gone"]
    src = spool(tmp_path, hosts[:3], {"h1": "site_hosp_a", "h2": "site_hosp_a", "p1": "site_pharm_b"})
    out = tmp_path / "fleet"
    proc = collect(tmp_path, hosts, src, out, "-e", "site_reports=true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fleet = json.loads((out / "report.json").read_text())
    by_site = {}
    for site in sorted((out / "sites").iterdir()):
        assert sorted(p.name for p in site.iterdir()) == ["report.html", "report.json", "report.xml"]
        rep = json.loads((site / "report.json").read_text())
        jsonschema.validate(rep, SCHEMA)
        by_site[site.name] = rep
    # the terminal without a report has no site of its own: it is counted under "unknown"
    assert {k: sorted(r["hosts"]) for k, r in by_site.items()} == {
        "site_hosp_a": ["h1", "h2"], "site_pharm_b": ["p1"], "unknown": ["gone"]}
    for key, rep in by_site.items():
        assert list(rep["summary"]["sites"]) == [key]
        assert rep["summary"]["hosts"] == len(rep["hosts"])
        assert rep["hosts"] == {h: fleet["hosts"][h] for h in rep["hosts"]}
    assert by_site["site_hosp_a"]["summary"]["sites"]["site_hosp_a"]["name"] == "Site_Hosp_A"
    total = {s: sum(r["summary"]["statuses"][s] for r in by_site.values()) for s in fleet["summary"]["statuses"]}
    assert total == fleet["summary"]["statuses"]
    assert "reports per site: " in proc.stdout


OVERVIEW_SCHEMA = json.loads((ROOT / "docs/overview.schema.json").read_text())


def test_the_overview_counts_the_fleet_and_lists_only_its_findings(tmp_path):
    hosts = ["t1", "t2", "t3"]
    src = spool(tmp_path, hosts[:2])  # t1 compliant, t2 drifts on every control, t3 has no report
    out = tmp_path / "fleet"
    proc = collect(tmp_path, hosts, src, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fleet = json.loads((out / "report.json").read_text())
    ov = json.loads((out / "overview.json").read_text())
    jsonschema.validate(ov, OVERVIEW_SCHEMA)
    assert (ov["hosts"], ov["with_findings"], ov["in_error"]) == (3, 2, ["t3"])
    assert ov["statuses"] == fleet["summary"]["statuses"]
    media = ov["controls"]["MI-MEDIA-01"]
    assert (media["counts"]["compliant"], media["counts"]["drift"], media["counts"]["error"]) == (1, 1, 1)
    # t3 is listed once, under in_error, not under each of its controls
    assert [(g["hosts"], g["sites"], g["status"]) for g in media["findings"]] == [(["t2"], ["site_lab"], "drift")]
    assert ov["sites"]["site_lab"]["with_findings"] == 1 and ov["sites"]["unknown"]["in_error"] == 1
    page = (out / "overview.html").read_text()
    assert "<td>t2</td>" in page and "<td>t1</td>" not in page and "sites/" not in page
    assert (out / "overview.json").stat().st_mode & 0o777 == 0o640
    assert f"overview (counts and findings only): {out}/overview.html" in proc.stdout

    # with per-site reports, each site's row links to its report
    proc = collect(tmp_path, hosts, src, out, "-e", "site_reports=true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (out / "overview.html").read_text()
    for key in ("site_lab", "unknown"):
        assert f"href='sites/{key}/report.html'" in page and (out / "sites" / key / "report.html").is_file()


def _fleet(n_compliant: int, findings: dict) -> dict:
    """A fleet report built the audit's way: n compliant terminals (every automated control
    checked ok, every attested one with valid evidence) and one, ``bad``, whose tasks found
    ``findings`` ({control: [finding]})."""
    mod = mi_report.report_module()
    catalog, clauses = mod.load_catalog()
    attested = [c["id"] for c in catalog["controls"] if c["status"] == "implemented" and c["automation"] == "attested"]
    policy = {"mi_site": {"id": "site_lab", "name": "Lab"}, "mi_policy_version": "2026.11",
              "mi_evidence": [{"control": cid, "reference": "DOC-1", "by": "auditor", "date": "2026-11-01",
                               "valid_until": "2099-12-31"} for cid in attested]}
    ok = [{"task": "check", "result": "ok", "detail": ""}]
    ids = [c["id"] for c in catalog["controls"] if c["status"] == "implemented" and c["automation"] == "automated"]
    hosts = {f"t{i:04d}": {"policy": policy, "findings": {cid: ok for cid in ids}} for i in range(n_compliant)}
    hosts["bad"] = {"policy": policy, "findings": dict({cid: ok for cid in ids}, **findings)}
    return mod.build_report(catalog, clauses, hosts, dt.date.today(), "2026-11-23T00:00:00+00:00")


def test_a_finding_is_one_short_line_and_the_overview_does_not_grow_with_compliant_terminals():
    mod = mi_report.report_module()
    diff = "--- before: /etc/usbguard/rules.conf\n+++ after\n" + "+allow id 1234:5678\n" * 100
    findings = {"MI-MEDIA-01": [{"task": "USB | rules", "result": "ok", "detail": ""},
                                {"task": "USB | device policy", "result": "changed", "detail": diff}],
                "MI-NET-01": [{"task": "Firewall | ruleset", "result": "failed", "detail": "nft: syntax error"}]}
    small, large = (mod.overview(_fleet(n, findings)) for n in (10, 300))
    for ov in (small, large):
        jsonschema.validate(ov, OVERVIEW_SCHEMA)
    media = large["controls"]["MI-MEDIA-01"]["findings"]
    assert [(g["hosts"], g["status"]) for g in media] == [(["bad"], "drift")]
    assert media[0]["detail"].startswith("USB | device policy: --- before: /etc/usbguard/rules.conf +++ after +allow")
    assert len(media[0]["detail"]) == mod.OVERVIEW_DETAIL_CHARS and media[0]["detail"].endswith("…")
    assert large["controls"]["MI-NET-01"]["findings"][0]["detail"] == "Firewall | ruleset: nft: syntax error"
    # 290 more compliant terminals: only counts change (digits), no names, no evidence
    sizes = [len(json.dumps(ov, ensure_ascii=False)) for ov in (small, large)]
    assert sizes[1] - sizes[0] < 300, sizes
    assert "t0299" not in json.dumps(large) and "t0299" not in mod.render_overview(large, "en")


def test_the_same_finding_on_many_terminals_is_one_group():
    mod = mi_report.report_module()
    made = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    reports = [terminal_report(f"t{i:03d}", made, "drift", "site_a" if i < 20 else "site_b") for i in range(30)]
    ov = mod.overview(mi_report.mi_fleet_report(reports, []))
    jsonschema.validate(ov, OVERVIEW_SCHEMA)
    groups = ov["controls"]["MI-MEDIA-01"]["findings"]
    assert len(groups) == 1 and groups[0]["hosts"] == [f"t{i:03d}" for i in range(30)], groups
    assert groups[0]["sites"] == ["site_a", "site_b"]
    page = mod.render_overview(ov, "en")
    assert "<details><summary>t000, t001, t002, t003, t004, …</summary>" in page


def test_fail_on_drift_fails_the_run_after_writing_the_report(tmp_path):
    src = spool(tmp_path, ["t1"])  # compliant
    ok = collect(tmp_path, ["t1"], src, tmp_path / "ok", "-e", "fail_on_drift=true")
    assert ok.returncode == 0, ok.stdout + ok.stderr

    src = spool(tmp_path / "b", ["t1", "t2"])  # t2 drifts on every control
    out = tmp_path / "drift"
    proc = collect(tmp_path, ["t1", "t2"], src, out, "-e", "fail_on_drift=true")
    fleet = json.loads((out / "report.json").read_text())
    assert proc.returncode != 0
    assert f"{fleet['summary']['drift_or_error']} control result(s) in drift or error: see {out}/overview.html" in proc.stdout


def test_sites_whose_ids_are_no_file_names_keep_apart():
    mod = mi_report.report_module()
    assert mod.site_key("site_hosp_a") == "site_hosp_a"
    keys = {mod.site_key(i) for i in ("第一医院", "第二医院", "site a", "site_a", "../x", ".hidden", "")}
    assert len(keys) == 7 and "site_a" in keys, keys
    assert all(re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", k) for k in keys), keys

    made = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    reports = [terminal_report("h1", made, site="第一医院"), terminal_report("h2", made, site="第二医院")]
    sites = mod.site_reports(mi_report.mi_fleet_report(reports, []))
    assert sorted(list(r["hosts"]) for r in sites.values()) == [["h1"], ["h2"]]


def test_without_the_full_report_the_evidence_is_kept_once_in_the_site_reports(tmp_path):
    hosts = ["h1", "p1"]
    src = spool(tmp_path, hosts, {"h1": "site_hosp_a", "p1": "site_pharm_b"})
    out = tmp_path / "fleet"
    proc = collect(tmp_path, hosts, src, out, "-e", "site_reports=true", "-e", "full_report=false")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["overview.html", "overview.json", "sites"]
    assert sorted(p.name for p in (out / "sites").iterdir()) == ["site_hosp_a", "site_pharm_b"]
    assert json.loads((out / "overview.json").read_text())["hosts"] == 2
    assert "fleet report: " not in proc.stdout
