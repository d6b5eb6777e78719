"""Role base_os: behaviour of the converged terminal, and what check mode reports."""

import json
import os
import subprocess

import pytest

BLOCKED = ["cramfs", "freevxfs", "hfs", "hfsplus", "jffs2", "udf", "dccp", "sctp", "rds", "tipc"]


def test_umask_of_a_new_login_shell_is_027(host):
    """MI-SYS-04: a login shell starts with umask 027; its new files are not readable by others."""
    assert host.check_output("runuser -l operator1 -c umask") == "0027"
    host.run("rm -f /home/operator1/mi-umask-probe")
    host.check_output("runuser -l operator1 -c 'touch ~/mi-umask-probe'")
    assert host.file("/home/operator1/mi-umask-probe").mode == 0o640


def test_core_dumps_are_disabled(host):
    """MI-SYS-04: login sessions (PAM limits) and services (systemd) may not dump core."""
    assert host.check_output("runuser -l operator1 -c 'ulimit -Hc'") == "0"
    assert host.check_output("systemctl show -p DefaultLimitCORE") == "DefaultLimitCORE=0"
    assert "Storage=none" in host.file("/etc/systemd/coredump.conf.d/60-mi-harden.conf").content_string


@pytest.mark.parametrize("module", BLOCKED)
def test_rare_filesystems_and_protocols_cannot_load(host, module):
    """MI-SYS-04: modprobe resolves the module to the refusal, and loading it fails."""
    dry = host.run(f"modprobe -n -v {module}")
    assert "install /bin/false" in dry.stdout, dry.stdout + dry.stderr
    assert host.run(f"modprobe {module}").rc != 0


@pytest.mark.parametrize(
    ("path", "owner", "group", "mode"),
    [
        ("/etc/passwd", "root", "root", 0o644),
        ("/etc/group", "root", "root", 0o644),
        ("/etc/shadow", "root", "shadow", 0o640),  # prepare made it world-readable
        ("/etc/gshadow", "root", "shadow", 0o640),
        ("/etc/crontab", "root", "root", 0o600),
        ("/etc/cron.d", "root", "root", 0o700),
        ("/etc/cron.daily", "root", "root", 0o700),
        ("/etc/cron.allow", "root", "crontab", 0o640),
        ("/etc/at.allow", "root", "daemon", 0o640),
    ],
)
def test_sensitive_file_permissions(host, path, owner, group, mode):
    """MI-SYS-02: owner, group and mode of account, cron and scheduling files."""
    f = host.file(path)
    assert (f.user, f.group, f.mode) == (owner, group, mode)


def test_operator_cannot_read_shadow(host):
    """MI-SYS-02: the permissions hold for a real user."""
    assert host.run("runuser -u operator1 -- cat /etc/shadow").rc != 0


def test_cron_and_at_are_for_administrators_only(host):
    """MI-SYS-02: an operator is refused by crontab and at; an administrator is not."""
    crontab_op = host.run("runuser -u operator1 -- crontab -l")
    assert crontab_op.rc != 0 and "not allowed" in crontab_op.stderr, crontab_op.stderr
    crontab_admin = host.run("runuser -u admin1 -- crontab -l")
    assert "not allowed" not in crontab_admin.stderr and "no crontab for admin1" in crontab_admin.stderr
    at_op = host.run("runuser -u operator1 -- at -l")
    assert at_op.rc != 0 and "permission" in at_op.stderr, at_op.stderr
    assert host.run("runuser -u admin1 -- at -l").rc == 0
    assert not host.file("/etc/cron.deny").exists and not host.file("/etc/at.deny").exists


@pytest.mark.parametrize("package", ["telnet", "rsh-client"])
def test_clear_text_clients_are_removed(host, package):
    """MI-SYS-03: prepare installed them; the role purged them."""
    assert not host.package(package).is_installed


def test_ctrl_alt_del_does_not_reboot(host):
    """MI-SYS-03: the Ctrl-Alt-Del target is masked."""
    assert host.check_output("systemctl is-enabled ctrl-alt-del.target || true") == "masked"


def test_world_writable_files_in_system_paths_are_fixed(host):
    """MI-SYS-02: prepare left a world-writable program and directory in /usr/local."""
    assert host.file("/usr/local/bin/mi-ww-test").mode == 0o775
    assert host.file("/usr/local/share/mi-ww-dir").mode == 0o1777
    assert host.run("runuser -u operator1 -- sh -c 'echo x >> /usr/local/bin/mi-ww-test'").rc != 0


def test_sysctl_file_holds_the_policy_for_this_kernel(host):
    """MI-SYS-01: the one managed file names parameters this kernel has (it would load as is).

    The container's kernel is the host's: the role does not apply the file here (see the
    not-applicable test below); the VM scenario proves the running values.
    """
    lines = [line for line in host.file("/etc/sysctl.d/60-mi-harden.conf").content_string.splitlines()
             if line and not line.startswith("#")]
    settings = dict(line.split(" = ") for line in lines)
    for key in ("net.ipv4.ip_forward", "net.ipv4.conf.all.rp_filter", "net.ipv4.tcp_syncookies",
                "kernel.yama.ptrace_scope", "kernel.kptr_restrict", "kernel.dmesg_restrict",
                "fs.protected_symlinks", "fs.suid_dumpable", "net.ipv4.conf.all.log_martians"):
        assert key in settings, key
    yama = host.file("/proc/sys/kernel/yama").exists  # an LSM; Debian's kernels have it, some hosts' not
    for key in settings:
        if key.startswith("kernel.yama.") and not yama:
            continue
        assert host.file("/proc/sys/" + key.replace(".", "/")).exists, key


# --- check mode: drift found by inspection, and none on the converged host -------------------
def _check_run():
    """Run the converge playbook in check mode, limited to the controls that inspect (the
    shared check-mode test covers the whole role); return the base_os facts each task set
    and the tasks that would change something."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = subprocess.run(
        ["ansible-playbook", "--check", "--tags", "MI-SYS-01,MI-SYS-02,MI-SYS-05", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml")],
        env=env, capture_output=True, text=True, check=False, timeout=900,
    )
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    facts, changed = {}, []
    for play in result["plays"]:
        for task in play["tasks"]:
            for res in task["hosts"].values():
                for key in ("base_os_drift", "base_os_not_applicable"):
                    for cid, value in (res.get("ansible_facts") or {}).get(key, {}).items():
                        facts.setdefault(key, {})[cid] = value
                if res.get("changed"):
                    changed.append(task["task"]["name"] + " " + json.dumps(res.get("results", res.get("path", "")))[:300])
    return facts, changed


@pytest.fixture(scope="module")
def check_runs(host):
    """A check run on the converged host, then one with faults planted, then clean up."""
    clean = _check_run()
    license_file = "/usr/share/common-licenses/Apache-2.0"
    host.check_output(f"cp -p {license_file} /root/mi-license-backup")
    host.check_output("install -m 0666 /dev/null /etc/mi-ww-probe && install -o 4242 -g 4242 -m 0644 /dev/null /opt/mi-unowned")
    host.check_output(f"echo tampered >> {license_file}")
    try:
        faulty = _check_run()
        probe_mode = host.file("/etc/mi-ww-probe").mode
    finally:
        host.run(f"cp -p /root/mi-license-backup {license_file}; rm -f /root/mi-license-backup /etc/mi-ww-probe /opt/mi-unowned")
    return clean, faulty, probe_mode


def test_no_drift_after_converge(check_runs):
    """Every inspection ran and found nothing; only the kernel part is not applicable here."""
    (facts, changed), _, _ = check_runs
    assert not changed
    assert set(facts["base_os_drift"]) == {"MI-SYS-02", "MI-SYS-05"}  # MI-SYS-01: not applicable
    assert all(v == [] for v in facts["base_os_drift"].values()), facts["base_os_drift"]


def test_kernel_parameters_are_declared_not_applicable_in_a_container(check_runs):
    """MI-SYS-01: never a silent pass: the reason names the container and the managed file."""
    (facts, _), _, _ = check_runs
    reason = facts["base_os_not_applicable"]["MI-SYS-01"]
    assert "container" in reason and "/etc/sysctl.d/60-mi-harden.conf" in reason


def test_check_mode_reports_planted_faults(check_runs):
    """MI-SYS-02 and MI-SYS-05: check mode reports a world-writable file (would fix it), an
    unowned file and a changed package file, and changes nothing."""
    _, (facts, changed), _ = check_runs
    assert any("world-writable files in system directories" in c.lower() and "/etc/mi-ww-probe" in c for c in changed), changed
    assert "unowned: /opt/mi-unowned (uid 4242, gid 4242)" in facts["base_os_drift"]["MI-SYS-02"]
    assert "/usr/share/common-licenses/Apache-2.0: checksum differs" in facts["base_os_drift"]["MI-SYS-05"]


def test_check_mode_left_the_planted_world_writable_file_alone(check_runs):
    """Check mode is read-only: the probe was still world-writable after the check run."""
    _, _, probe_mode = check_runs
    assert probe_mode == 0o666
