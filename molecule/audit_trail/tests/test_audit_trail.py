"""Role audit_trail in a container: installed, configured, rules checked offline, retention
works, and the control is reported not applicable (auditd itself cannot run here)."""

import json
import os
import shlex
import subprocess

import pytest

RULES = "/etc/audit/rules.d/audit.rules"


def _rules(host):
    lines = host.file(RULES).content_string.splitlines()
    return [shlex.split(line) for line in lines if line.strip() and not line.startswith("#")]


def _has_rule(rules, *parts):
    return any(all(p in rule for p in parts) for rule in rules)


def _playbook(*args):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml"), *args],
        env=env, capture_output=True, text=True, check=False, timeout=600)


def test_rules_pass_the_offline_check_and_a_broken_file_does_not(host):
    """MI-LOG-01: the managed rules parse; the checker (the template's validate) refuses errors."""
    ok = host.run(f"mi-audit-rules-check {RULES}")
    assert ok.rc == 0, ok.stderr
    bad = host.run("printf -- '-a always,exit -F arch=b64 -S adjtimexx -k t\\n-w etc/x -p wa\\n-e 2\\n-D\\n' > /tmp/bad.rules"
                   " && mi-audit-rules-check /tmp/bad.rules")
    assert bad.rc == 1
    assert "line 1: no syscall 'adjtimexx' on b64" in bad.stderr
    assert "line 2: watched path must be absolute" in bad.stderr
    assert "line 3: -e must be the last rule" in bad.stderr


@pytest.mark.parametrize(("kind", "directory"), [
    ("data", "/var/lib/mi-client/data"),
    ("db", "/var/lib/mi-client/db"),
    ("db", "/srv/mi-archive/db"),
])
def test_protected_directories_record_writes_attributes_and_deletions(host, kind, directory):
    """MI-LOG-01 (GZ-3, ZH-MI8-DB): write/attribute and deletion rules with their keys, both arches."""
    rules = _rules(host)
    for arch in ("arch=b64", "arch=b32"):
        assert _has_rule(rules, arch, f"dir={directory}", "perm=wa", f"mi-{kind}-change")
        delete = [r for r in rules if arch in r and f"dir={directory}" in r and f"mi-{kind}-delete" in r]
        assert delete and {"unlink", "unlinkat", "rename", "renameat", "rmdir"} <= set(delete[0][delete[0].index("-S") + 1].split(","))
    assert host.file(directory).is_directory  # created by the role (audit_trail_missing_dirs: create)


def test_time_identity_module_mount_and_login_rules(host):
    """MI-LOG-01 (TWO-5, PC-NOCHANGE): the other record classes and keys are all there."""
    rules = _rules(host)
    assert _has_rule(rules, "arch=b64", "adjtimex,settimeofday,clock_settime", "time-change")
    assert _has_rule(rules, "/etc/localtime", "time-change")
    for path in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"):
        assert _has_rule(rules, path, "identity")
    assert _has_rule(rules, "/etc/sudoers", "privilege-config")
    assert _has_rule(rules, "init_module,finit_module,delete_module", "modules")
    assert _has_rule(rules, "mount,umount2", "mounts")
    assert _has_rule(rules, "/var/log/wtmp", "session") and _has_rule(rules, "/var/log/lastlog", "logins")
    assert rules[-1] == ["-e", "2"]


def test_every_setuid_program_on_the_host_is_audited(host):
    """MI-LOG-01: the privileged-command rules cover exactly the setuid/setgid programs found now."""
    found = set(host.check_output("find / -xdev -type f -perm /6000").split())
    assert "/usr/bin/passwd" in found
    audited = {r[r.index("-F") + 1][5:] for r in _rules(host) if "privileged" in r}
    assert found == audited, (found ^ audited)


def test_auditd_never_silently_stops_recording(host):
    """MI-LOG-01: rotation keeps logs; a full disk or disk error stops operation, not recording."""
    conf = dict(line.split(" = ", 1) for line in host.file("/etc/audit/auditd.conf").content_string.splitlines()
                if " = " in line and not line.startswith("#"))
    assert conf["max_log_file_action"] == "KEEP_LOGS"
    for key in ("disk_full_action", "disk_error_action", "admin_space_left_action", "space_left_action"):
        assert conf[key] not in ("SUSPEND", "IGNORE"), key
    assert conf["disk_full_action"] in ("SINGLE", "HALT")


def test_retention_removes_only_logs_past_the_period(host):
    """MI-LOG-01: the retention job removes rotated logs older than 30 days, keeps the rest."""
    host.run("mkdir -p /var/log/audit && touch /var/log/audit/audit.log "
             "&& touch -d '40 days ago' /var/log/audit/audit.log.3 "
             "&& touch -d '20 days ago' /var/log/audit/audit.log.2")
    run = host.run("systemctl start mi-audit-retention.service")
    assert run.rc == 0, run.stderr
    assert not host.file("/var/log/audit/audit.log.3").exists
    assert host.file("/var/log/audit/audit.log.2").exists
    assert host.file("/var/log/audit/audit.log").exists
    assert host.service("mi-audit-retention.timer").is_enabled


def test_auditd_enabled_not_failed_and_reported_not_applicable(host):
    """MI-LOG-01: enabled for boot; in a container skipped by its condition (not failed),
    and the audit reports not_applicable with the reason."""
    assert host.package("auditd").is_installed
    assert host.service("auditd").is_enabled
    assert host.run("systemctl is-failed auditd").stdout.strip() != "failed"
    proc = _playbook("--check", "--tags", "MI-LOG-01")
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    facts = [res["ansible_facts"]["audit_trail_not_applicable"] for play in result["plays"]
             for task in play["tasks"] for res in task["hosts"].values()
             if "audit_trail_not_applicable" in res.get("ansible_facts", {})]
    assert facts and "kernel refuses audit requests" in facts[-1]["MI-LOG-01"]


@pytest.mark.parametrize(("extra", "message"), [
    ({"audit_trail_data_dirs": ["var/lib/mi-client/data"]},
     "audit_trail_data_dirs[0]: 'var/lib/mi-client/data' is not an absolute path"),
    ({"audit_trail_db_dirs": ["/var/lib/no-such-db"], "audit_trail_missing_dirs": "fail"},
     "audit_trail_db_dirs: /var/lib/no-such-db is not a directory on this host"),
])
def test_bad_input_names_the_field(host, extra, message):
    """Bad input stops the run before any change, naming the field."""
    before = host.file(RULES).content_string
    proc = _playbook("-e", json.dumps(extra))
    assert proc.returncode != 0
    assert message in proc.stdout, proc.stdout[-3000:]
    assert host.file(RULES).content_string == before
    assert not host.file("/var/lib/no-such-db").exists
