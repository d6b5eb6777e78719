"""scripts/bench.py compares the mitogen audit with the linear one control by control."""

import json
import sys
import time

import yaml

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


def test_the_cpu_unit_is_measured_in_each_process():
    one, both = bench.cpu_unit(1), bench.cpu_unit(2)
    assert len(one) == 1 and len(both) == 2
    assert all(0 < s < 60 for s in one + both)


_RUN = {"label": "audit_N=1", "hosts": 1, "load1_before": 0.1, "wall_s": 140.0, "hosts_per_min": 0.4,
        "changed": 0, "failed": 0, "tasks_per_host": 296.0, "ms_per_task": 473, "cpu_controller_s": 49.1,
        "cpu_terminals_s": 98.6, "cpu_per_host_s": 147.66, "controller_peak_rss_mib": 105}


def test_runs_of_earlier_sessions_without_the_cpu_unit_still_print(tmp_path, capsys):
    (tmp_path / "runs.jsonl").write_text(
        json.dumps(_RUN) + "\n" + json.dumps({**_RUN, "label": "audit_N=30", "cpu_unit_s": 0.61, "steal_s": 2.5}) + "\n")
    bench.markdown(tmp_path)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| audit")]
    assert rows[0].endswith("| 105 |  |  |")
    assert rows[1].endswith("| 105 | 0.61 | 2.5 |")


def test_the_cpu_unit_sampled_during_a_run_is_shown_beside_the_one_before(tmp_path, capsys):
    during = {"n": 3, "mean": 0.7, "min": 0.6, "max": 0.8}
    (tmp_path / "runs.jsonl").write_text(json.dumps({**_RUN, "cpu_unit_s": 0.5, "steal_s": 0.0,
                                                     "cpu_unit_during_s": during}) + "\n")
    bench.markdown(tmp_path)
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| audit")][0]
    assert row.endswith("| 0.5; during: 0.7 (0.6-0.8, 3 samples) | 0.0 |")


def test_the_sampler_takes_the_unit_until_it_is_stopped():
    sampler = bench.UnitSampler(0.05)
    sampler.start()
    time.sleep(1.5)
    sampler.stop.set()
    sampler.join()
    assert sampler.samples and all(s > 0 for s in sampler.samples)


def test_forks_apply_to_fleet_audits_only():
    assert bench.fleet_forks(1, [4, 20]) == [None]  # one terminal: ansible.cfg's forks
    assert bench.fleet_forks(30, None) == [None]
    assert bench.fleet_forks(30, [4, 20]) == [4, 20]


def test_collect_uploads_one_report_per_terminal_and_the_fleet_report_takes_them(tmp_path):
    """--collect: N copies of one terminal's report, each under its own terminal's name, and
    an inventory of those terminals; the collection's merge sees N terminals, none missing."""
    import mi_report

    base, _ = bench.collect_source(tmp_path / "no-earlier-runs")  # synthetic: no bench run here
    src = bench.write_fleet_reports(base, 3, tmp_path)
    paths = sorted(src.rglob("report.json"))
    assert [p.parts[-3] for p in paths] == ["mi-fleet-00001", "mi-fleet-00002", "mi-fleet-00003"]
    reports = [json.loads(p.read_text()) for p in paths]
    assert [list(r["hosts"]) for r in reports] == [[p.parts[-3]] for p in paths]
    inv = yaml.safe_load((tmp_path / "hosts.yml").read_text())
    names = list(inv["all"]["children"]["terminals"]["children"]["collect_fleet"]["hosts"])
    fleet = mi_report.mi_fleet_report(reports, names)
    assert fleet["summary"]["hosts"] == 3
    assert fleet["summary"]["statuses"]["error"] == 0  # every terminal has its report
    assert all(h["controls"]["MI-AUDIT-01"]["evidence"][-1]["result"] == "ok" for h in fleet["hosts"].values())


def test_collect_sites_spreads_the_terminals_over_k_sites(tmp_path):
    import mi_report

    base, _ = bench.collect_source(tmp_path / "no-earlier-runs")
    src = bench.write_fleet_reports(base, 5, tmp_path, sites=2)
    fleet = mi_report.mi_fleet_report([json.loads(p.read_text()) for p in sorted(src.rglob("report.json"))], [])
    assert {k: v["hosts"] for k, v in fleet["summary"]["sites"].items()} == {
        "bench-site-0000": ["mi-fleet-00001", "mi-fleet-00003", "mi-fleet-00005"],
        "bench-site-0001": ["mi-fleet-00002", "mi-fleet-00004"]}
