"""Role antivirus: the real ClamAV engine, with the test database the scenario built with
sigtool (prepare.yml) and the role pushed (push mode), detects, quarantines and logs."""

import json
import os
import subprocess
import time

import pytest

# The EICAR anti-virus test file, base64 so that no scanner trips on this test file.
EICAR_B64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo="
QUARANTINE = "/var/lib/mi-harden/antivirus/quarantine"
LAST_SCAN = "/var/lib/mi-harden/antivirus/last-scan.json"
SIGNATURE = "MI-Test.EICAR"


def _drop_eicar(host, path, user="root"):
    cmd = f"echo {EICAR_B64} | base64 -d > {path}"
    host.check_output(f"su -s /bin/sh {user} -c '{cmd}'" if user != "root" else cmd)


def _wait(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(1)
    return predicate()


def _sealed(host, name):
    f = host.file(f"{QUARANTINE}/{name}")
    return f.exists and f.user == "root" and f.group == "root" and f.mode == 0


def _playbook(*args):
    """Run the scenario's converge playbook against the instance; return (rc, json result)."""
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         os.path.join(scenario, "converge.yml"), *args],
        env=env, capture_output=True, text=True, check=False, timeout=900,
    )
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout[proc.stdout.index("{"):])


def _audit_drift():
    """The antivirus_drift fact of an audit (check mode) run of the antivirus controls."""
    rc, result = _playbook("--check", "--tags", "MI-AV-01,MI-AV-02,MI-AV-03")
    assert rc == 0, result["stats"]
    facts = [res["ansible_facts"]["antivirus_drift"]
             for play in result["plays"] for task in play["tasks"]
             for res in task["hosts"].values() if "antivirus_drift" in res.get("ansible_facts", {})]
    assert facts, "no task set antivirus_drift"
    return facts[-1]


def _failure_messages(result):
    return " ".join(res.get("msg", "") for play in result["plays"] for task in play["tasks"]
                    for res in task["hosts"].values() if res.get("failed"))


def test_clamd_is_active_with_the_pushed_database(host):
    """MI-AV-01: clamd runs, answers, and loaded the database push mode sent."""
    clamd = host.service("clamav-daemon")
    assert clamd.is_running and clamd.is_enabled
    assert host.run("clamdscan --ping 3").rc == 0
    db = host.file("/var/lib/clamav/mi-test.hdb")
    assert db.exists and db.user == "clamav"
    assert SIGNATURE in db.content_string
    # In push mode nothing tries to reach the Internet.
    assert not host.service("clamav-freshclam").is_running
    assert not host.service("clamav-freshclam").is_enabled


def test_scheduled_scan_quarantines_and_logs_eicar(host):
    """MI-AV-02: an EICAR file in a scanned (not watched) directory is found by the scan
    unit, moved to the quarantine, sealed (root, mode 0000) and logged."""
    assert host.service("mi-av-scan.timer").is_running
    assert host.service("mi-av-scan.timer").is_enabled
    assert _wait(lambda: host.run("systemctl is-active mi-av-scan.service").stdout.strip() != "activating")
    _drop_eicar(host, "/srv/mi-client/db/scheduled-eicar.com")
    host.check_output("systemctl start mi-av-scan.service")  # oneshot: returns when the scan ends
    assert not host.file("/srv/mi-client/db/scheduled-eicar.com").exists
    assert _wait(lambda: _sealed(host, "scheduled-eicar.com"))
    result = json.loads(host.file(LAST_SCAN).content_string)
    assert result["result"] == "infected" and result["infected"] == 1
    assert result["detections"][0]["path"] == "/srv/mi-client/db/scheduled-eicar.com"
    assert result["detections"][0]["signature"].startswith(SIGNATURE)
    journal = host.check_output("journalctl -t mi-antivirus -t mi-av-scan --no-pager")
    assert f"/srv/mi-client/db/scheduled-eicar.com: {SIGNATURE}" in journal
    assert "quarantined /var/lib/mi-harden/antivirus/quarantine/scheduled-eicar.com sha256=" in journal


def test_scan_timer_follows_the_policy_schedule(host):
    """MI-AV-02: the timer fires on the policy's calendar expression."""
    out = host.check_output("systemctl show mi-av-scan.timer -p TimersCalendar")
    assert "OnCalendar=*-*-* 03:00:00" in out


def test_on_access_blocks_and_quarantines_eicar(host):
    """MI-AV-03: an operator drops EICAR in their home; opening it is refused (prevention),
    and clamonacc moves it to the quarantine, which seals it."""
    assert host.service("clamav-clamonacc").is_running, "fanotify is available in the test container"
    path = "/home/operator1/downloaded-eicar.com"
    _drop_eicar(host, path, user="operator1")
    opened = host.run(f"su -s /bin/sh operator1 -c 'cat {path}'")
    assert opened.rc != 0 and "Operation not permitted" in opened.stderr
    assert _wait(lambda: not host.file(path).exists)
    assert _wait(lambda: _sealed(host, "downloaded-eicar.com"))
    journal = host.check_output("journalctl -t clamonacc --no-pager")
    assert f"{path}: {SIGNATURE}" in journal


def test_clean_files_stay_readable_on_access(host):
    """MI-AV-03: on-access prevention does not get in the way of clean files."""
    path = "/home/operator1/report.txt"
    host.check_output(f"su -s /bin/sh operator1 -c 'echo clean > {path}'")
    assert host.check_output(f"su -s /bin/sh operator1 -c 'cat {path}'") == "clean"


def test_stale_signatures_and_quarantine_are_drift(host):
    """MI-AV-01/02: fresh signatures are not drift; signatures older than the policy allows
    (7 days) are; detections waiting in quarantine are MI-AV-02 drift."""
    fresh = _audit_drift()
    assert fresh["MI-AV-01"] == []
    assert any("in quarantine awaiting review" in d for d in fresh["MI-AV-02"])
    db = "/var/lib/clamav/mi-test.hdb"
    stamp = host.check_output(f"stat -c %Y {db}")
    host.check_output(f"touch -d '30 days ago' {db}")
    try:
        stale = _audit_drift()
    finally:
        host.check_output(f"touch -d @{stamp} {db}")
    assert len(stale["MI-AV-01"]) == 1
    assert "30 d" in stale["MI-AV-01"][0] and "policy allows 7 d" in stale["MI-AV-01"][0]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"antivirus_signature_mode": "floppy"}, "antivirus_signature_mode"),
        ({"antivirus_scan_schedule": "every tuesday-ish"}, "antivirus_scan_schedule"),
        ({"antivirus_scan_paths": ["srv/mi-client/data"]}, "antivirus_scan_paths[0]"),
        ({"antivirus_push_files": ["/nonexistent/*.cvd"]}, "antivirus_push_files[0]"),
    ],
)
def test_bad_input_fails_naming_the_field_before_any_change(host, extra, field):
    """Bad policy: the run stops with the field's name, and nothing changed on the host."""
    rc, result = _playbook("-e", json.dumps(extra))
    assert rc != 0
    assert field in _failure_messages(result), _failure_messages(result)
    assert all(s["changed"] == 0 for s in result["stats"].values()), result["stats"]
