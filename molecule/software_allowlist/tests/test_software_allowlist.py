"""Role software_allowlist: behaviour on the converged terminal, not file contents alone."""

import base64
import json
import os
import subprocess

APT = "DEBIAN_FRONTEND=noninteractive apt-get -y -q"
LOG = "/var/log/mi-harden/software.log"
POLICY = "/etc/mi-harden/software-policy.json"


def _installed(host, name):
    return host.run(f"dpkg-query -W -f '${{db:Status-Abbrev}}' {name}").stdout.startswith("ii")


def _log_records(host):
    return [json.loads(line) for line in host.file(LOG).content_string.splitlines() if line.strip()]


def _converge(*args):
    """Run the scenario's converge playbook again (JSON results), e.g. in check mode."""
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], *args,
         os.path.join(scenario, "converge.yml")],
        env=env, capture_output=True, text=True, check=False, timeout=900,
    )
    assert proc.stdout, proc.stderr
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    for host, stats in result["stats"].items():
        assert stats["failures"] == 0 and stats["unreachable"] == 0, (host, stats, proc.stdout[-3000:])
    return result


def _task_results(result, name_start):
    return [res for play in result["plays"] for task in play["tasks"]
            if task["task"]["name"].split(" : ", 1)[-1].startswith(name_start) for res in task["hosts"].values()]


def test_game_present_before_converge_is_gone(host):
    """MI-SW-02: bsdgames (Debian's games section), installed by prepare, was removed,
    with the library apt had installed only for it (the word list it also pulled in is
    of priority standard: part of the approved base system, it stays)."""
    assert not _installed(host, "bsdgames")
    assert not host.file("/usr/games/fortune").exists
    assert not _installed(host, "libfl2")
    assert _installed(host, "wamerican")


def test_installing_a_game_is_refused_with_the_policy_message(host):
    """MI-SW-03: apt stops before dpkg; the message names the policy, the control and the package."""
    res = host.run(f"{APT} install bsdgames")
    out = res.stdout + res.stderr
    assert res.rc != 0, out
    assert "installation refused by the software policy mi-terminal-baseline test" in out
    assert "MI-SW-03" in out
    assert "bsdgames: denied by the policy (section games)" in out
    assert not _installed(host, "bsdgames")


def test_installing_an_unapproved_tool_is_refused(host):
    """MI-SW-01/03: a package that is neither approved nor denied cannot be installed either."""
    res = host.run(f"{APT} install ncdu")
    assert res.rc != 0
    assert "ncdu: not on the approved software list" in res.stderr
    assert not _installed(host, "ncdu")


def test_refusal_is_logged(host):
    """MI-SW-03: each refusal is a JSON line in the log file and a message in the journal."""
    host.run(f"{APT} install bsdgames")
    refused = [r for r in _log_records(host) if r["event"] == "refused" and "bsdgames" in r["packages"]]
    assert refused, host.file(LOG).content_string
    assert refused[-1]["user"] == "root"
    assert refused[-1]["policy"] == "mi-terminal-baseline" and refused[-1]["version"] == "test"
    assert "apt-get" in refused[-1]["command"] and "install bsdgames" in refused[-1]["command"]
    journal = host.run("journalctl -t mi-apt-allowlist --no-pager -o cat")
    assert "refused: bsdgames" in journal.stdout, journal.stdout + journal.stderr


def test_approved_package_installs_with_its_dependencies(host):
    """MI-SW-03: jq is approved; its libraries (never listed) come with it."""
    res = host.run(f"{APT} install jq")
    assert res.rc == 0, res.stdout + res.stderr
    assert _installed(host, "libjq1")
    assert host.run("echo '{\"a\": 1}' | jq .a").stdout.strip() == "1"


def test_update_of_installed_package_installs(host):
    """MI-SW-03: updates of installed software (even unapproved) pass, with the new
    library the new version needs: security updates never stall on the hook."""
    publish = host.run(
        "cp /srv/mi-test-debs/mi-test-tool_2.0_all.deb /srv/mi-test-debs/mi-test-newlib_1.0_all.deb "
        "/srv/mi-test-repo/ && cd /srv/mi-test-repo && apt-ftparchive packages . > Packages && apt-get -q update"
    )
    assert publish.rc == 0, publish.stderr
    res = host.run(f"{APT} install --only-upgrade mi-test-tool")
    assert res.rc == 0, res.stdout + res.stderr
    assert host.file("/usr/share/doc/mi-test-tool/version").content_string.strip() == "mi-test-tool 2.0"
    assert _installed(host, "mi-test-newlib")


def test_broken_policy_file_fails_safe_and_root_can_override(host):
    """MI-SW-03: with an unreadable policy, new software is refused with a message that says
    how to repair; root lets one transaction through with a logged reason."""
    saved = base64.b64encode(host.file(POLICY).content).decode()
    try:
        host.run(f"echo '{{broken' > {POLICY}")
        res = host.run(f"{APT} install tree")
        assert res.rc != 0
        assert "the software policy cannot be used" in res.stderr and "is not valid JSON" in res.stderr
        assert "MiHarden::Software::Override" in res.stderr
        assert not _installed(host, "tree")
        res = host.run(f"{APT} -o MiHarden::Software::Override='recovery test 42' install tree")
        assert res.rc == 0, res.stdout + res.stderr
        assert _installed(host, "tree")
        override = [r for r in _log_records(host) if r["event"] == "override"]
        assert override and override[-1]["detail"] == "recovery test 42" and override[-1]["packages"] == ["tree"]
    finally:
        host.run(f"echo {saved} | base64 -d > {POLICY}")
    assert host.run(f"/usr/local/sbin/mi-apt-allowlist --check-policy {POLICY}").rc == 0


def test_unapproved_software_is_reported_as_drift(host):
    """MI-SW-01: check mode lists what is installed without approval (the audit's drift);
    the base system, the image and what the tests installed with approval are not in it."""
    result = _converge("--check")
    drift = [res["ansible_facts"]["software_allowlist_drift"]
             for res in _task_results(result, "MI-SW-01 MI-SW-02 | AUDIT | What the inspection found")]
    assert drift, "the drift fact was not set"
    flagged = {line.split(":")[0] for line in drift[0]["MI-SW-01"]}
    assert {"figlet", "mi-test-tool"} <= flagged, drift
    assert flagged <= {"figlet", "mi-test-tool", "mi-test-newlib"}, drift
    assert "figlet: not approved (installed by hand, section text)" in drift[0]["MI-SW-01"]
    assert drift[0]["MI-SW-02"] == []


def test_enforce_remove_removes_unapproved_software_after_listing_it(host):
    """MI-SW-01: software_allowlist_enforce=remove prints the list, then removes it;
    approved software stays."""
    result = _converge("-e", "software_allowlist_enforce=remove")
    listed = _task_results(result, "MI-SW-01 | AUDIT | Installed software the policy does not approve")
    assert any("figlet: not approved" in line for res in listed for line in res.get("msg", [])), listed
    removed = _task_results(result, "MI-SW-01 | PATCH | Unapproved software is removed")
    assert removed and removed[0]["changed"]
    assert not _installed(host, "figlet") and not _installed(host, "mi-test-tool")
    assert _installed(host, "jq") and _installed(host, "python3")
