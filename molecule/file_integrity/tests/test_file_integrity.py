"""Role file_integrity: a tampered client program is found, reported, and accepted on approval."""

import json
import os
import subprocess

import pytest

STATE = "/var/lib/mi-harden/file_integrity.json"
CLIENT = "/opt/mi-client/bin/mi-client"


def _playbook(path, *args):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], path, *args],
        env=env, capture_output=True, text=True, check=False, timeout=600,
    )


def _audit_drift():
    """The role's drift for MI-FIM-01, as the audit (check mode) sees it."""
    proc = _playbook(os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml"),
                     "--check", "--tags", "MI-FIM-01")
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    found = [res["ansible_facts"]["file_integrity_drift"] for play in result["plays"]
             for task in play["tasks"] for res in task["hosts"].values()
             if "file_integrity_drift" in res.get("ansible_facts", {})]
    assert found, proc.stderr[-2000:]
    return found[-1]["MI-FIM-01"]


def _state(host):
    return json.loads(host.file(STATE).content_string)


def test_baseline_taken_and_daily_timer_active(host):
    """MI-FIM-01: the baseline exists and the daily check is scheduled."""
    assert host.file("/var/lib/mi-harden/aide/aide.db").mode == 0o600
    timer = host.service("mi-integrity-check.timer")
    assert timer.is_enabled and timer.is_running
    assert "04:30" in host.check_output("systemctl show -p TimersCalendar mi-integrity-check.timer")


def test_tampered_client_program_is_drift_until_accepted(host):
    """MI-FIM-01: modify a client program -> the check finds it -> audit drift;
    the accept playbook records the approver -> the drift is gone."""
    assert host.run("systemctl start mi-integrity-check.service").rc == 0
    assert _state(host)["result"] == "clean", _state(host)
    assert _audit_drift() == []

    host.run(f"echo 'echo tampered' >> {CLIENT}")
    assert host.run("systemctl start mi-integrity-check.service").rc == 0
    state = _state(host)
    assert state["result"] == "changes" and CLIENT in state["changed"], state
    drift = _audit_drift()
    assert any(CLIENT in d and "changed since the accepted baseline" in d for d in drift), drift

    accept = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "playbooks/accept_integrity_change.yml")
    proc = _playbook(accept, "-e", "approver='Wang Fang, head of IT'", "-e", "reason='client 4.2, ticket T-1'")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert _audit_drift() == []
    record = json.loads(host.file("/var/lib/mi-harden/file_integrity_approvals.jsonl").content_string.splitlines()[-1])
    assert record["approver"] == "Wang Fang, head of IT" and CLIENT in record["accepted"]["changed"]
    assert host.run("journalctl -t mi-integrity --no-pager -o cat | grep 'accepted by Wang Fang'").rc == 0
    # and the new baseline is clean
    assert host.run("systemctl start mi-integrity-check.service").rc == 0
    assert _state(host)["result"] == "clean"


def test_accept_refuses_without_approver():
    """MI-FIM-01: no approval recorded, no re-baseline."""
    accept = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "playbooks/accept_integrity_change.yml")
    proc = _playbook(accept, "-e", "reason=x")
    assert proc.returncode != 0 and "approver and reason are required" in proc.stdout


def test_old_check_is_drift(host):
    """MI-FIM-01: a last check older than the policy allows is drift."""
    state = _state(host)
    host.run(f"python3 -c \"import json; s=json.load(open('{STATE}')); s['epoch'] -= 40*3600; "
             f"json.dump(s, open('{STATE}', 'w'))\"")
    try:
        drift = _audit_drift()
        assert any("h old (policy: at most 36 h)" in d for d in drift), drift
    finally:
        host.run(f"echo '{json.dumps(state)}' > {STATE}")


@pytest.mark.parametrize(("extra", "message"), [
    ({"file_integrity_program_dir": "opt/mi-client"}, "file_integrity_program_dir: 'opt/mi-client' is not an absolute path"),
    ({"file_integrity_program_dir": "/opt/no-such-client"}, "file_integrity_program_dir: /opt/no-such-client is not a directory"),
    ({"file_integrity_schedule": "sometimes"}, "file_integrity_schedule: \\\"sometimes\\\" is not a systemd calendar"),
])
def test_bad_input_names_the_field(host, extra, message):
    """Bad input stops the run before any change, naming the field."""
    proc = _playbook(os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml"),
                     "-e", json.dumps(extra))
    assert proc.returncode != 0
    assert message in proc.stdout, proc.stdout[-3000:]
    assert not host.file("/opt/no-such-client").exists
