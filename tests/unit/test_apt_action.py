"""mi_apt: ansible.builtin.apt answered from dpkg when the answer is certain
(action_plugins/mi_apt.py). What is certain is judged by pure functions; the action runs
against this machine in check mode only (nothing is installed or removed here), side by
side with the builtin, whose results it must repeat."""

import json

import pytest
from conftest import run_play

import mi_apt


NOW = 1_800_000_000
DAY = 86400


def out(*pkgs: str, auto: tuple[str, ...] = (), stamp: int = NOW - 3600, end: bool = True) -> str:
    """What query_command prints: '@pkg name status' lines, auto-installed names, times."""
    lines = [f"@pkg {p}" for p in pkgs] + [f"@auto {a}" for a in auto] + [f"@now {NOW}", f"@stamp {stamp}"]
    return "\n".join(lines + (["@end"] if end else [])) + "\n"


@pytest.mark.parametrize("args", [
    {"name": "nftables=1.0.6-2"},  # a version
    {"name": "clamav*"},  # a wildcard
    {"name": "libc6:i386"},  # an architecture
    {"name": "/tmp/x.deb"},
    {"name": []},
    {"name": "aide", "state": "latest"},
    {"name": "aide", "state": "build-dep"},
    {"name": "aide", "upgrade": "dist"},
    {"name": "aide", "autoremove": True},
    {"name": "aide", "default_release": "bookworm-backports"},
    {"deb": "/tmp/x.deb"},
    {"upgrade": "safe"},
    {"name": "aide", "cache_valid_time": "a day"},
])
def test_anything_but_plain_names_present_or_absent_goes_to_the_module(args):
    assert mi_apt.query_command(args) is None


def test_names_the_query_refuses_are_never_judged():
    assert mi_apt.judge({"name": "clamav*"}, out("clamav installed"), True) is None


def test_the_query_names_each_package_once_quoted():
    cmd = mi_apt.query_command({"name": "restic,auditd", "update_cache": True, "cache_valid_time": DAY})
    assert "dpkg-query -W -f='@pkg ${Package} ${db:Status-Status}\\n' -- restic auditd" in cmd
    assert "/var/lib/apt/extended_states" in cmd
    assert cmd.endswith("echo @end")


PRESENT = {"name": ["clamav-daemon", "clamdscan"], "state": "present", "update_cache": True, "cache_valid_time": DAY}


@pytest.mark.parametrize("check_mode", [False, True])
def test_installed_packages_and_a_fresh_cache_are_answered(check_mode):
    got = mi_apt.judge(PRESENT, out("clamav-daemon installed", "clamdscan installed"), check_mode)
    assert got == {"changed": False, "cache_updated": False, "cache_update_time": NOW - 3600}
    assert mi_apt.judge({"name": "aide"}, out("aide installed"), check_mode) == {
        "changed": False, "cache_updated": False, "cache_update_time": NOW - 3600}


@pytest.mark.parametrize(("output", "check_mode"), [
    (out("clamav-daemon installed"), True),  # one package dpkg does not know
    (out("clamav-daemon installed", "clamdscan not-installed"), True),
    (out("clamav-daemon installed", "clamdscan half-configured"), True),
    (out("clamav-daemon installed", "clamdscan config-files"), True),
    (out("clamav-daemon installed", "clamdscan installed", auto=("clamdscan",)), False),  # would be marked manual
    (out("clamav-daemon installed", "clamdscan installed", stamp=NOW - 2 * DAY), False),  # would update the cache
    (out("clamav-daemon installed", "clamdscan installed", end=False), True),  # output cut short
    (out("clamav-daemon installed", "clamdscan not-installed", "clamdscan installed"), True),  # two architectures
])
def test_anything_uncertain_goes_to_the_module(output, check_mode):
    assert mi_apt.judge(PRESENT, output, check_mode) is None


def test_check_mode_never_updates_the_cache_nor_marks_packages():
    stale = out("clamav-daemon installed", "clamdscan installed", auto=("clamdscan",), stamp=NOW - 2 * DAY)
    assert mi_apt.judge(PRESENT, stale, True) == {"changed": False, "cache_updated": True,
                                                  "cache_update_time": NOW - 2 * DAY}


@pytest.mark.parametrize(("args", "output", "answered"), [
    ({"name": ["telnet", "ftp"], "state": "absent"}, out(), True),  # dpkg never heard of them
    ({"name": ["telnet"], "state": "absent"}, out("telnet not-installed"), True),
    ({"name": ["telnet"], "state": "absent"}, out("telnet config-files"), True),
    ({"name": ["telnet"], "state": "absent", "purge": True}, out("telnet config-files"), False),  # would purge
    ({"name": ["telnet"], "state": "absent"}, out("telnet installed"), False),
    ({"name": ["telnet"], "state": "absent"}, out("telnet half-installed"), False),
])
def test_absent_packages(args, output, answered):
    assert (mi_apt.judge(args, output, False) == {"changed": False}) is answered


PLAY = """
- name: mi_apt and ansible.builtin.apt on this machine, check mode
  hosts: all
  gather_facts: false
  tasks:
{tasks}
    - name: RESULTS
      ansible.builtin.copy:
        content: "{{{{ [{pairs}] | to_json }}}}"
        dest: "{results}"
        mode: "0600"
      check_mode: false
"""

CASES = {  # name: (arguments, whether mi_apt answers without the module)
    "installed": ({"name": ["coreutils", "dpkg"]}, True),  # essential: on every Debian
    "fresh_cache": ({"name": "coreutils", "update_cache": True, "cache_valid_time": 10 * 365 * DAY}, True),
    "never_heard_of": ({"name": ["mi-no-such-package"], "state": "absent", "purge": True}, True),
    "would_remove": ({"name": "coreutils", "state": "absent"}, False),
    "a_version": ({"name": "coreutils=0.1"}, False),
}


def test_the_action_returns_what_the_module_returns_and_runs_it_only_when_unsure(tmp_path):
    tasks = "".join(f"    - {{name: MI_{k}, mi_apt: {json.dumps(a)}, register: mi_{k}, ignore_errors: true}}\n"
                    f"    - {{name: B_{k}, ansible.builtin.apt: {json.dumps(a)}, register: b_{k}, ignore_errors: true}}\n"
                    for k, (a, _) in CASES.items())
    pairs = ", ".join(f"[mi_{k}, b_{k}]" for k in CASES)
    results = tmp_path / "results.json"
    # check mode: the essential coreutils is not removed, only judged; python3-apt is the system's
    runs = run_play(tmp_path, PLAY.format(tasks=tasks, pairs=pairs, results=results), "--check",
                    python="/usr/bin/python3")
    keep = ("changed", "failed", "cache_updated", "cache_update_time")
    for (k, (_, answered)), (mi, builtin) in zip(CASES.items(), json.loads(results.read_text())):
        assert {x: mi.get(x) for x in keep} == {x: builtin.get(x) for x in keep}, k
        assert runs.get(f"MI_{k}", 0) == (0 if answered else 1), k
        assert runs.get(f"B_{k}", 0) == 1, k
