"""Role backup: behaviour on the converged terminal, whose two backup disks are tmpfs
mounts (prepare.yml): snapshots on both disks, encrypted, restorable byte for byte; a
missing disk fails the run loudly and shows as drift; bad policies stop before changes."""

import json
import os
import re
import shlex
import subprocess

import pytest

DISKS = {"disk1": "/srv/mi-backup/disk1", "disk2": "/srv/mi-backup/disk2"}
POOL = "/srv/mi-test-pool"  # where each tmpfs lives; the mount points are bind mounts of it
MARKER = "MI-CLEAR-TEXT-MARKER-7f3a"
STATUS = "/var/lib/mi-harden/backup.json"
SCENARIO = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.dirname(os.path.dirname(SCENARIO)))


def restic(disk, args):
    repo = f"{DISKS[disk]}/mi-harden-restic"
    return f"RESTIC_PASSWORD_FILE=/etc/mi-harden/backup.pass restic --repo {repo} {args}"


def playbook(path, *args, check=False):
    """Run a playbook against the instance; return (rc, JSON results of ansible.posix.json)."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], path, *args]
    proc = subprocess.run(cmd + (["--check"] if check else []), env=env, capture_output=True,
                          text=True, check=False, timeout=900)
    assert "{" in proc.stdout, proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout[proc.stdout.index("{"):])


def converge(*args, check=False):
    return playbook(os.path.join(SCENARIO, "converge.yml"), *args, check=check)


def task_results(result, prefix):
    """The host results of the tasks whose name contains `prefix`."""
    return [host_res for play in result["plays"] for task in play["tasks"]
            if prefix in task["task"]["name"] for host_res in task["hosts"].values()]


def audit_drift(result):
    facts = [r["ansible_facts"]["backup_drift"] for r in task_results(result, "AUDIT | Last good backup")]
    assert facts, "the audit task did not run"
    return facts[-1]


def failure_text(result):
    return json.dumps([r for play in result["plays"] for task in play["tasks"]
                       for r in task["hosts"].values() if r.get("failed")], ensure_ascii=False)


def status(host):
    return json.loads(host.file(STATUS).content_string)


def test_timers_follow_the_policy(host):
    """MI-BAK-01 | ZH-MI8-DAILY: daily backup and weekly integrity check timers are active."""
    for unit, calendar in (("mi-backup.timer", "*-*-* 00:00:00"), ("mi-backup-check.timer", "Mon *-*-* 00:00:00")):
        svc = host.service(unit)
        assert svc.is_enabled and svc.is_running, unit
        shown = host.check_output(f"systemctl show {unit} -p TimersCalendar")
        assert calendar in shown, shown


def test_password_is_root_only_and_nowhere_else(host):
    """ZH-NET-CRYPT: the repository key's password is readable by root only, not in settings."""
    pw = host.file("/etc/mi-harden/backup.pass")
    assert pw.mode == 0o600 and pw.user == "root" and pw.group == "root"
    secret = pw.content_string.strip()
    assert len(secret) >= 12
    for path in ("/etc/mi-harden/backup.json", "/etc/systemd/system/mi-backup.service"):
        assert secret not in host.file(path).content_string


def test_backup_unit_makes_a_snapshot_on_each_disk(host):
    """MI-BAK-01 | GZ-C1b: one run of the backup unit writes a snapshot to both disks and records it."""
    run = host.run("systemctl start mi-backup.service")
    assert run.rc == 0, run.stderr + host.run("journalctl -u mi-backup.service -n 30 --no-pager").stdout
    doc = status(host)
    assert doc["last_run"]["ok"] is True
    for disk in DISKS:
        snaps = json.loads(host.check_output(restic(disk, "snapshots --json")))
        assert snaps, f"no snapshot on {disk}"
        latest = doc["last_run"]["targets"][disk]
        assert latest["ok"] and latest["error"] == ""
        assert latest["snapshot_id"] in [s["short_id"] for s in snaps]
        assert latest["size_bytes"] > 2 * 1024 * 1024  # the 2 MiB database and more
        assert set(snaps[-1]["paths"]) == {"/etc", "/var/lib/mi-client/data", "/var/lib/mi-client/db"}
        assert doc["targets"][disk]["last_success"] == latest["finished"]


def test_repositories_are_encrypted(host):
    """ZH-NET-CRYPT | ZH-SEC-DATA: the data's clear text is nowhere on the disks; a wrong password opens nothing."""
    assert host.run(f"grep -rq {MARKER} /var/lib/mi-client/data").rc == 0
    for disk, mount in DISKS.items():
        assert host.run(f"grep -rqa {MARKER} {mount}/mi-harden-restic").rc == 1, disk
        wrong = host.run(f"RESTIC_PASSWORD=wrong-password-123 restic --repo {mount}/mi-harden-restic snapshots")
        assert wrong.rc != 0 and "wrong password" in (wrong.stderr + wrong.stdout).lower()


def test_restore_drill_restores_identical_files_from_each_disk(host, tmp_path):
    """MI-BAK-02 | ZH-INF-RESTORE PC-BACKUP: the drill restores every disk's latest snapshot, byte-identical."""
    rc, result = playbook(os.path.join(PROJECT, "playbooks/restore_drill.yml"),
                          "-e", f"restore_drill_evidence_dir={tmp_path}")
    assert rc == 0, failure_text(result)
    evidence = json.loads(host.file("/var/lib/mi-harden/backup-restore-drill.json").content_string)
    assert evidence["ok"] is True
    for disk in DISKS:
        res = evidence["targets"][disk]
        assert res["ok"] and res["mismatched_count"] == 0, res
        assert res["identical"] >= 3  # at least the client's files; /etc adds hundreds
    assert len(list(tmp_path.glob("*.json"))) == 1  # the evidence is kept on the controller
    assert not host.file("/var/tmp/mi-restore-drill/disk1").exists  # scratch copies removed
    # independently of the drill: the restic copy of each file is the source, byte for byte
    for path in ("/var/lib/mi-client/db/claims.db", "/var/lib/mi-client/data/2026/11/settlement 结算 01.csv"):
        source = host.check_output(f"sha256sum {shlex.quote(path)}").split()[0]
        for disk in DISKS:
            copy = host.check_output(f"{restic(disk, 'dump latest ' + shlex.quote(path))} | sha256sum").split()[0]
            assert copy == source, (disk, path)


def test_restore_drill_counts_sources_changed_since_the_snapshot(host):
    """MI-BAK-02: a file edited after the snapshot is reported as changed since, not as a
    failed restore (its ctime is newer than the snapshot, even with its mtime set back)."""
    path = "/var/lib/mi-client/db/config.ini"
    saved = host.check_output(f"base64 -w0 {path}")
    try:
        host.run_expect([0], f"echo edited >> {path} && touch -d '2000-01-01' {path}")
        drill = host.run("mi-backup drill")
        assert drill.rc == 0, drill.stderr
        evidence = json.loads(drill.stdout.splitlines()[-1])
        for disk in DISKS:
            assert evidence["targets"][disk]["changed_since_snapshot"] >= 1
            assert evidence["targets"][disk]["mismatched_count"] == 0
    finally:
        host.run_expect([0], f"echo {saved} | base64 -d > {path}")


def test_integrity_check_unit_checks_each_repository(host):
    """MI-BAK-01 | ZH-SEC-DATA ZH-GEN-BACKUP: restic check of both repositories, recorded."""
    run = host.run("systemctl start mi-backup-check.service")
    assert run.rc == 0, run.stderr
    doc = json.loads(host.file("/var/lib/mi-harden/backup-check.json").content_string)
    for disk in DISKS:
        assert doc["targets"][disk]["ok"] is True and doc["targets"][disk]["error"] == ""
        assert re.match(r"^\d+/4$", doc["targets"][disk]["read_data_subset"])


def test_damaged_repository_is_caught_by_check_and_drill(host, tmp_path):
    """MI-BAK-01/02: damaged pack files on disk2 fail its integrity check and its restore
    drill, and only that disk's (the audit's reading of both is in tests/unit)."""
    repo = f"{DISKS['disk2']}/mi-harden-restic"
    host.run_expect([0], f"cp -a {repo} {POOL}/disk2/repo-copy")
    try:
        host.run_expect([0], f"for f in $(find {repo}/data -type f); do "
                             f"printf 'XXXXXXXXXXXXXXXX' | dd of=$f bs=1 seek=200 conv=notrunc status=none; done")
        assert host.run("systemctl start mi-backup-check.service").rc != 0
        doc = json.loads(host.file("/var/lib/mi-harden/backup-check.json").content_string)
        assert doc["targets"]["disk1"]["ok"] is True
        assert doc["targets"]["disk2"]["ok"] is False and doc["targets"]["disk2"]["error"]
        rc, result = playbook(os.path.join(PROJECT, "playbooks/restore_drill.yml"),
                              "-e", f"restore_drill_evidence_dir={tmp_path}")
        assert rc != 0
        assert "Restore drill failed on disk2" in failure_text(result)
        evidence = json.loads(host.file("/var/lib/mi-harden/backup-restore-drill.json").content_string)
        assert evidence["targets"]["disk1"]["ok"] is True and evidence["targets"]["disk2"]["ok"] is False
    finally:
        host.run_expect([0], f"rm -rf {repo} && mv {POOL}/disk2/repo-copy {repo}")
        host.run("systemctl reset-failed mi-backup-check.service")
    host.run_expect([0], "systemctl start mi-backup-check.service")
    host.run_expect([0], "mi-backup drill")


def test_missing_disk_fails_the_run_loudly_and_shows_as_drift(host):
    """MI-BAK-01: with disk2 unplugged, the backup unit fails (disk1 still backed up), the
    audit reports drift (with a stale backup on disk1, also drift), and a converge refuses
    to put a repository on the system disk."""
    host.run_expect([0], f"umount {DISKS['disk2']}")
    try:
        run = host.run("systemctl start mi-backup.service")
        assert run.rc != 0
        assert host.run("systemctl is-failed mi-backup.service").stdout.strip() == "failed"
        journal = host.check_output("journalctl -u mi-backup.service -n 20 --no-pager")
        assert "disk 'disk2': BACKUP FAILED" in journal and "not mounted" in journal
        doc = status(host)
        assert doc["last_run"]["targets"]["disk1"]["ok"] is True
        assert doc["last_run"]["targets"]["disk2"]["ok"] is False
        assert "not mounted" in doc["last_run"]["targets"]["disk2"]["error"]
        assert not host.file(f"{DISKS['disk2']}/mi-harden-restic").exists  # nothing on the system disk

        # and disk1's last good backup is older than the policy allows
        doc["targets"]["disk1"]["last_success"] = "2026-01-01T00:00:00Z"
        host.run_expect([0], f"echo {shlex.quote(json.dumps(doc))} > {STATUS}")

        rc, audit = converge(check=True)
        assert rc == 0, failure_text(audit)
        drift = audit_drift(audit)["MI-BAK-01"]
        assert "backup disk 'disk2' is not mounted at /srv/mi-backup/disk2 (disk missing?)" in drift
        assert any(m.startswith("the last backup run failed on 'disk2'") for m in drift), drift
        assert any(m.startswith("last good backup on 'disk1' is") and "the policy allows 26 h" in m
                   for m in drift), drift
        would_init = task_results(audit, "An encrypted restic repository on every mounted")
        assert any(r.get("changed") for r in would_init)  # also drift by the task itself

        rc, applied = converge()
        assert rc != 0
        text = failure_text(applied)
        assert "disk 'disk2'" in text and "is not mounted (disk missing?); refusing" in text
        assert not host.file(f"{DISKS['disk2']}/mi-harden-restic").exists
    finally:
        if host.run(f"mountpoint -q {DISKS['disk2']}").rc != 0:
            host.run_expect([0], f"mount --bind {POOL}/disk2 {DISKS['disk2']}")
        host.run("systemctl reset-failed mi-backup.service")
    host.run_expect([0], "systemctl start mi-backup.service")
    assert status(host)["targets"]["disk1"]["last_success"] != "2026-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def bad_input_errors():
    """bad_input.yml: every bad policy through the role's validate entry point, one run."""
    rc, result = playbook(os.path.join(SCENARIO, "bad_input.yml"))
    assert rc == 0, failure_text(result)
    errors = [r["bad_input_errors"] for r in task_results(result, "What each bad policy got")]
    assert errors
    return errors[0]


def test_second_target_on_the_same_filesystem_is_refused(host, bad_input_errors):
    """GZ-C1b: /srv/mi-backup/twin is another path to disk1's filesystem (bind mount):
    refused by comparing the mounted devices."""
    assert host.run("mountpoint -q /srv/mi-backup/twin").rc == 0
    assert ("backup_targets[1] ('twin') at /srv/mi-backup/twin: is on the same filesystem"
            in bad_input_errors["same-filesystem"]), bad_input_errors
    assert "as another backup disk, backup_targets[0] ('disk1')" in bad_input_errors["same-filesystem"]


BAD_INPUT = {
    "one-disk": "backup_targets: 1 backup disk(s) named, the policy requires at least 2 distinct disks",
    "inside-data": "backup_targets[1] ('disk2').mount: /var/lib/mi-client/db/backup is inside the data being backed up",
    "no-password": "backup_repository_password: not set",
    "bad-schedule": 'backup_schedule: "every day at noon" is not a systemd calendar expression',
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_policy_is_refused_naming_the_field(bad_input_errors, case):
    """Bad input: refused by the checks site.yml runs before any change, naming the field."""
    assert BAD_INPUT[case] in bad_input_errors[case], bad_input_errors[case]
