"""Role accounts: behaviour on the converged terminal, through PAM as a login would go.

Passwords are changed by driving `passwd` through a pseudo-terminal inside the container
(chpasswd would bypass pam_pwquality), and logins are tried with `su` run as `nobody`, so
the whole auth/account/session stack is exercised. Values from molecule/accounts/converge.yml:
deny 3, unlock_time 20 s, TMOUT 5 s, break-glass `rescue`, shared `reception`.
"""

import json
import os
import re
import shlex
import subprocess
import time

import pytest

START = "Kestrel-Start-2024!"
DENY = 3
UNLOCK = 20

# Runs inside the container: drives a program that asks for passwords through a pty.
# argv[1] JSON: {"argv": [...], "old": str|None, "new": str}. Answers the current-password
# prompt with `old`, the first "New password" and its retype with `new`; a second "New
# password" prompt means the first was refused, and the program is stopped there.
PTY_DRIVER = r'''
import json, os, pty, select, signal, sys, time
spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(spec["argv"][0], spec["argv"])
out, seen, new_prompts, deadline = b"", 0, 0, time.time() + spec.get("timeout", 40)
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if fd in r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    tail = out[seen:].lower()
    if b"retype new password:" in tail or b"retype new unix password:" in tail:
        os.write(fd, (spec["new"] + "\n").encode()); seen = len(out)
    elif b"new password:" in tail or b"new unix password:" in tail:
        new_prompts += 1
        if new_prompts > 1:  # passwd ignores SIGTERM while it asks
            break
        os.write(fd, (spec["new"] + "\n").encode()); seen = len(out)
    elif b"password:" in tail and spec.get("old") is not None:
        os.write(fd, (spec["old"] + "\n").encode()); seen = len(out)
timeout = time.time() >= deadline
done, status = os.waitpid(pid, os.WNOHANG)
if not done:
    time.sleep(1)
    done, status = os.waitpid(pid, os.WNOHANG)
if not done:
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
print(json.dumps({"rc": os.waitstatus_to_exitcode(status), "timeout": timeout,
                  "out": out.decode(errors="replace")}))
'''


def _pty(host, argv, new, old=None, timeout=40):
    spec = json.dumps({"argv": argv, "new": new, "old": old, "timeout": timeout})
    res = host.run(f"python3 -c {shlex.quote(PTY_DRIVER)} {shlex.quote(spec)}")
    assert res.rc == 0, res.stderr
    return json.loads(res.stdout)


def _shadow_hash(host, user):
    return host.check_output(f"getent shadow {user}").split(":")[1]


# Sets a hash directly (usermod -p): chpasswd goes through PAM on Debian 12 and would
# itself be held to the password rules.
SET_HASH = (
    "import ctypes, subprocess, sys; c = ctypes.CDLL('libcrypt.so.1'); "
    "c.crypt.restype = c.crypt_gensalt.restype = ctypes.c_char_p; "
    "h = c.crypt(sys.argv[2].encode(), c.crypt_gensalt(b'$6$', 0, None, 0)).decode(); "
    "subprocess.run(['usermod', '-p', h, sys.argv[1]], check=True)"
)


def _reset(host, user, password):
    """Known password, last change 10 days ago (past the minimum age), no failure records."""
    host.run_expect([0], f"python3 -c {shlex.quote(SET_HASH)} {user} {shlex.quote(password)}")
    host.run_expect([0], f"chage --lastday $(date -d '-10 days' +%F) {user}")
    host.run_expect([0], f"faillock --user {user} --reset")


def _change_as_user(host, user, old, new):
    return _pty(host, ["su", "-s", "/bin/sh", user, "-c", "passwd"], new=new, old=old)


def _login(host, user, password, command="echo logged-in"):
    """su to `user` as `nobody` with the password on stdin: the auth+account+session stacks."""
    return host.run(
        f"echo {shlex.quote(password)} | setpriv --reuid=65534 --regid=65534 --clear-groups "
        f"su {user} -s /bin/sh -c {shlex.quote(command)}"
    )


# ---------------------------------------------------------------- MI-ACC-01 quality
@pytest.mark.parametrize(
    ("weak", "why"),
    [
        ("Sh0rt!pw", "shorter than 12"),
        ("qzwxecrvtbynumkp", "less than 3 character classes"),
        ("pwuser", "BAD PASSWORD"),  # equal to the user name
        ("Xq7!pwuser!Kz3#", "contains the user name"),
        ("Basketball12", "dictionary"),
    ],
)
def test_weak_password_refused_through_pam(host, weak, why):
    """MI-ACC-01: a normal user's `passwd` refuses a weak password; the hash stays as it was."""
    _reset(host, "pwuser", START)
    before = _shadow_hash(host, "pwuser")
    res = _change_as_user(host, "pwuser", START, weak)
    assert "BAD PASSWORD" in res["out"] and why in res["out"], res["out"]
    assert res["rc"] != 0, (why, res["out"])
    assert _shadow_hash(host, "pwuser") == before, why


def test_strong_password_accepted_and_history_refuses_reuse(host):
    """MI-ACC-01 MI-ACC-03: a strong password is accepted; going back to the old one is refused."""
    _reset(host, "pwuser", START)
    before = _shadow_hash(host, "pwuser")
    res = _change_as_user(host, "pwuser", START, "Kettle-Moon-7395!")
    assert res["rc"] == 0, res["out"]
    assert "successfully" in res["out"], res["out"]
    assert _shadow_hash(host, "pwuser") != before
    assert _login(host, "pwuser", "Kettle-Moon-7395!").rc == 0
    # history: the password just replaced is remembered
    host.run_expect([0], "chage --lastday $(date -d '-10 days' +%F) pwuser")
    again = _change_as_user(host, "pwuser", "Kettle-Moon-7395!", START)
    assert again["rc"] != 0, again["out"]
    assert "already" in again["out"].lower() or "used" in again["out"].lower(), again["out"]


def test_root_is_held_to_the_rules_too(host):
    """MI-ACC-01 (enforce_for_root): root setting a weak password for a user is refused."""
    _reset(host, "pwuser", START)
    before = _shadow_hash(host, "pwuser")
    res = _pty(host, ["passwd", "pwuser"], new="abc12345")
    assert res["rc"] != 0 and "BAD PASSWORD" in res["out"], res["out"]
    assert _shadow_hash(host, "pwuser") == before


# ---------------------------------------------------------------- MI-ACC-02 aging
def test_existing_account_gets_aging_values(host):
    """MI-ACC-02: an account made before converge (max 99999, min 0) now expires."""
    out = host.check_output("chage -l olduser")
    assert "Maximum number of days between password change\t\t: 90" in out, out
    assert "Minimum number of days between password change\t\t: 1" in out, out
    assert "Number of days of warning before password expires\t: 14" in out, out
    assert host.file("/etc/login.defs").contains("^PASS_MAX_DAYS[[:space:]]*90$")


def test_break_glass_account_not_aged(host):
    """Lockout safety: the break-glass account keeps its aging (never expired by the role)."""
    out = host.check_output("chage -l rescue")
    assert "Maximum number of days between password change\t\t: 99999" in out, out


def test_new_account_must_change_initial_password(host):
    """MI-ACC-02: the administrator created with an initial password must change it first."""
    assert "password must be changed" in host.check_output("chage -l alice")
    res = _login(host, "alice", "Alice-Initial-2026!")
    assert res.rc != 0
    assert "change your password" in (res.stdout + res.stderr).lower(), res.stdout + res.stderr


def test_adduser_account_must_change_initial_password(host):
    """MI-ACC-02: an account made later with adduser is expired by the adduser.local hook."""
    host.run("deluser --quiet newbie")
    host.run_test("adduser --quiet --disabled-password --gecos '' newbie")
    try:
        assert "password must be changed" in host.check_output("chage -l newbie")
    finally:
        host.run("deluser --quiet newbie")


# ---------------------------------------------------------------- MI-ACC-03 lockout
def test_account_locked_after_failures_and_unlocked_after_time(host):
    """MI-ACC-03: after `deny` wrong passwords the right one is refused until unlock_time passes."""
    _reset(host, "lockme", "Lockme-Pass-2024!")
    assert _login(host, "lockme", "Lockme-Pass-2024!").rc == 0
    for _ in range(DENY):
        assert _login(host, "lockme", "wrong-password").rc != 0
    records = host.check_output("faillock --user lockme")
    valid = [line for line in records.splitlines() if re.match(r"^\d{4}-\d\d-\d\d ", line) and line.endswith("V")]
    assert len(valid) >= DENY, records
    locked = _login(host, "lockme", "Lockme-Pass-2024!")
    assert locked.rc != 0, "right password accepted while locked"
    time.sleep(UNLOCK + 2)
    assert _login(host, "lockme", "Lockme-Pass-2024!").rc == 0, "not unlocked after unlock_time"


def test_break_glass_account_never_locked(host):
    """Lockout safety: the break-glass account still logs in after more than `deny` failures."""
    for _ in range(DENY + 1):
        _login(host, "rescue", "wrong-password")
    ok = _login(host, "rescue", "Rescue-Glass-2024!")
    assert ok.rc == 0 and "logged-in" in ok.stdout, ok.stdout + ok.stderr
    assert "mi-lockout-exempt" in host.check_output("id -nG rescue").split()


EXEMPT_TASK = "MI-ACC-03 | PATCH | The management and break-glass accounts are in it, before the lockout applies"


def _exempt_task(*args):
    """The results of the exempt-group task in a run of the scenario's converge, MI-ACC-03 only."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml"), "--tags", "MI-ACC-03", *args],
        env=env, capture_output=True, text=True, check=False, timeout=900,  # a hang guard
    )
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert proc.returncode == 0, result["stats"]
    found = [res for play in result["plays"] for task in play["tasks"] if task["task"]["name"].endswith(EXEMPT_TASK)
             for res in task["hosts"].values()]
    assert len(found) == 1, [t["task"]["name"] for play in result["plays"] for t in play["tasks"]]
    return found[0]


def test_exempt_group_member_removed_is_drift_and_put_back(host):
    """MI-ACC-03: no user module runs for members already in the exempt group (the plan read
    the group database); one taken out is drift in check mode, and a converge puts it back."""
    assert _exempt_task("--check").get("skipped"), "a compliant terminal runs the user module"
    host.check_output("gpasswd -d rescue mi-lockout-exempt")
    try:
        drift = _exempt_task("--check")
        assert drift["changed"] and [r["item"] for r in drift["results"]] == ["rescue"], drift
        assert "mi-lockout-exempt" not in host.check_output("id -nG rescue").split()
    finally:
        fixed = _exempt_task()
    assert fixed["changed"], fixed
    assert "mi-lockout-exempt" in host.check_output("id -nG rescue").split()


def test_pam_stack_is_pam_auth_updates_own(host):
    """MI-ACC-03: pam-auth-update regenerates the very same stack (nothing hand-edited)."""
    res = host.run("/usr/local/sbin/mi-pam-check --enable pwquality mi-harden-faillock-preauth "
                   "mi-harden-faillock mi-harden-pwhistory")
    assert res.rc == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["ok"] and report["changed"] == [], report


ROLE_PROFILES = "pwquality mi-harden-faillock-preauth mi-harden-faillock mi-harden-pwhistory"


def _pam_check(host, args):
    res = host.run("/usr/local/sbin/mi-pam-check " + args)
    return res.rc, json.loads(res.stdout)


def test_pam_sandbox_passes_the_roles_stack_with_its_lockout(host):
    """The trial before pam-auth-update: the role's stack refuses, accepts and locks."""
    rc, report = _pam_check(host, f"--deny {DENY} --enable {ROLE_PROFILES}")
    assert rc == 0 and report["ok"], report


def test_pam_sandbox_refuses_a_stack_that_accepts_any_password(host):
    """A profile that lets every password in never lands: the probe's wrong password gets in."""
    profile = "/usr/share/pam-configs/mi-test-permit-all"
    host.run(f"printf 'Name: test\\nDefault: no\\nPriority: 1024\\nAuth-Type: Primary\\n"
             f"Auth:\\n\\tsufficient\\tpam_permit.so\\n' > {profile}")
    try:
        rc, report = _pam_check(host, f"--enable {ROLE_PROFILES} mi-test-permit-all")
    finally:
        host.run(f"rm -f {profile}")
    assert rc == 1 and not report["ok"], report
    assert "probe: a wrong password was accepted" in report["errors"], report
    assert host.run("grep -q 'sufficient.*pam_permit' /etc/pam.d/common-auth").rc != 0, "the live stack changed"


def test_pam_sandbox_tells_a_lockout_from_failures(host):
    """The lockout trial reads the lock itself: one failure short of `deny`, the right password
    still gets in, so a trial expecting the lock there fails (as a stack without one would)."""
    rc, report = _pam_check(host, f"--deny {DENY - 1} --enable {ROLE_PROFILES}")
    assert rc == 1 and not report["ok"], report
    assert report["errors"] == [f"probe: still able to log in after {DENY - 1} failures; pam_faillock does not lock"]


# ---------------------------------------------------------------- MI-ACC-04 idle
def test_tmout_is_readonly_in_login_shells(host):
    """MI-ACC-04: a user cannot lift the idle timeout."""
    res = host.run("su - pwuser -c 'TMOUT=0; echo lifted'")
    assert "lifted" not in res.stdout
    assert "readonly" in res.stderr, res.stderr


def test_idle_login_shell_ends(host):
    """MI-ACC-04: an interactive login shell left alone ends by itself (TMOUT 5 s here)."""
    res = _pty(host, ["su", "-", "pwuser"], new="", timeout=60)
    assert not res["timeout"], "the idle shell was still there after 60 s"
    assert "timed out" in res["out"].lower(), res["out"]


def test_desktop_screen_lock(host):
    """MI-ACC-04: the dconf system database locks the screen after the idle delay."""
    read = host.check_output("DCONF_PROFILE=user dconf read /org/gnome/desktop/session/idle-delay")
    assert read.strip() == "uint32 600"
    assert host.check_output("DCONF_PROFILE=user dconf read /org/gnome/desktop/screensaver/lock-enabled") == "true"


# ---------------------------------------------------------------- MI-ACC-05 tiers
def test_unlisted_admin_group_member_removed(host):
    """MI-ACC-05: the member the policy does not name left mi-admins and sudo, kept other groups."""
    groups = host.check_output("id -nG intruder").split()
    assert "mi-admins" not in groups and "sudo" not in groups
    assert "users" in groups
    assert "not allowed" in host.run("sudo -l -U intruder").stdout


def test_administrator_has_sudo_operator_has_not(host):
    """MI-ACC-05: administrators may use sudo (admin group); operators may not."""
    assert "mi-admins" in host.check_output("id -nG alice").split()
    assert "(ALL : ALL) ALL" in host.check_output("sudo -l -U alice")
    assert "not allowed" in host.run("sudo -l -U bob").stdout
    assert host.run("visudo -c").rc == 0


# ---------------------------------------------------------------- MI-ACC-06 no shared logins
@pytest.mark.parametrize("account", ["svcweird", "reception"])
def test_system_and_shared_accounts_cannot_log_in(host, account):
    """MI-ACC-06: a system account and a shared account get nologin and a locked password."""
    assert host.user(account).shell == "/usr/sbin/nologin"
    assert host.check_output(f"passwd -S {account}").split()[1] == "L"
    res = host.run(f"su {account} -c id")
    assert res.rc != 0 and "uid=" not in res.stdout


def test_system_accounts_have_no_shell(host):
    """MI-ACC-06: no account below UID 1000 but root keeps an interactive shell."""
    shells = host.check_output("getent passwd").splitlines()
    bad = [line for line in shells
           if 0 < int(line.split(":")[2]) < 1000
           and line.split(":")[6] not in ("/usr/sbin/nologin", "/bin/false", "/bin/sync", "/usr/bin/false", "")]
    assert not bad, bad
