"""Pull mode end to end: the timer's service pulls the site's repository from mi-pull-git,
converges the terminal, audits it into the spool, and the collection makes the fleet report."""

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

testinfra_hosts = ["mi-pull-terminal"]

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SCHEMA = json.loads((PROJECT / "docs/report.schema.json").read_text())
HOST = "mi-pull-terminal"
SPOOL = "/var/lib/mi-harden/reports"


@pytest.fixture(scope="module")
def pulled(host):
    """One run of the service the timer starts (systemctl waits for the oneshot to end)."""
    run = host.run("systemctl start mi-pull.service")
    journal = host.run("journalctl -u mi-pull.service -o cat --no-pager -n 300").stdout
    newest = host.check_output(f"ls -1d {SPOOL}/*/ | sort | tail -1").rstrip("/")
    found = host.file(f"{newest}/report.json")
    assert found.exists, "no report.json; the run said:\n" + "\n".join(
        line for line in journal.splitlines() if not line.startswith(("ok:", "skipping:", "TASK ", "PLAY ")) and line.strip())[-6000:]
    report = json.loads(found.content_string)
    return {"run": run, "journal": journal, "dir": newest, "report": report}


def test_timer_is_scheduled(host):
    assert host.service("mi-pull.timer").is_enabled
    assert host.service("mi-pull.timer").is_running
    assert "OnCalendar=*-*-* 01:30" in host.check_output("systemctl cat mi-pull.timer")


def test_pull_service_succeeded(host, pulled):
    assert pulled["run"].rc == 0, pulled["journal"][-4000:]
    assert host.check_output("systemctl show -p Result --value mi-pull.service") == "success"
    state = json.loads(host.file("/var/lib/mi-harden/pull_mode.json").content_string)
    assert state["pull_rc"] == 0 and state["audit_rc"] == 0, state
    assert state["report"] == pulled["dir"]


def test_terminal_runs_the_commit_the_git_server_serves(host, pulled):
    served = git_server("git -C /srv/git/mi-harden.git rev-parse main")
    assert host.check_output("git -C /var/lib/mi-harden/pull/checkout rev-parse HEAD") == served
    state = json.loads(host.file("/var/lib/mi-harden/pull_mode.json").content_string)
    assert state["commit"] == served


def test_pulled_converge_enforced_the_policy(host, pulled):
    """MI-TIME-01 was among the pulled tags: chrony now takes time from the policy's servers."""
    assert host.package("chrony").is_installed
    conf = host.file("/etc/chrony/chrony.conf").content_string
    assert "server " in conf and "pool 2.debian.pool.ntp.org" not in conf


def test_report_validates_and_controls_have_statuses(pulled):
    report = pulled["report"]
    jsonschema.validate(report, SCHEMA)
    controls = report["hosts"][HOST]["controls"]
    assert controls and all(c["status"] for c in controls.values())
    # converged by the pull; in a container the clock part is not applicable (the host's clock)
    assert controls["MI-TIME-01"]["status"] in ("compliant", "not_applicable"), controls["MI-TIME-01"]
    assert any(e["result"] == "ok" for e in controls["MI-TIME-01"]["evidence"]), controls["MI-TIME-01"]
    assert controls["MI-AUDIT-01"]["status"] == "compliant", controls["MI-AUDIT-01"]


def test_spool_holds_all_three_files(host, pulled):
    for name in ("report.json", "report.xml", "report.html"):
        assert host.file(f"{pulled['dir']}/{name}").size > 0


def collect(out, *extra):
    proc = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(PROJECT / "playbooks/collect_reports.yml"),
         "--limit", HOST, "-e", f"fleet_report_dir={out}", "-e", "report_lang=en", *extra],
        capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads((out / "report.json").read_text())


def test_collection_makes_the_fleet_report(pulled, tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    fleet = collect(out)
    jsonschema.validate(fleet, SCHEMA)
    assert list(fleet["hosts"]) == [HOST]
    terminal = pulled["report"]["hosts"][HOST]["controls"]
    assert {k: v["status"] for k, v in fleet["hosts"][HOST]["controls"].items()} == {k: v["status"] for k, v in terminal.items()}
    assert any(e["task"] == "collection" for e in fleet["hosts"][HOST]["controls"]["MI-AUDIT-01"]["evidence"])
    assert (out / "terminals" / HOST / Path(pulled["dir"]).name / "report.json").is_file()
    assert "<testsuite" in (out / "report.xml").read_text()
    assert "compliance audit report" in (out / "report.html").read_text()
    overview = json.loads((out / "overview.json").read_text())
    assert overview["hosts"] == 1 and overview["statuses"] == fleet["summary"]["statuses"]
    assert HOST not in overview["in_error"]
    assert "compliance overview" in (out / "overview.html").read_text()

    # the same reports, uploaded to a directory: no terminal is contacted
    again = collect(tmp_path_factory.mktemp("fleet-dir"), "-e", f"reports_from={out}/terminals")
    assert list(again["hosts"]) == [HOST]
    assert again["summary"]["statuses"] == fleet["summary"]["statuses"]


def git_server(script):
    """Run a bash script on mi-pull-git as the site's publisher (its keyring)."""
    return subprocess.run(["docker", "exec", "-e", "GNUPGHOME=/srv/gnupg", "mi-pull-git", "bash", "-ec", script],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_pulled_commit_was_signed_by_the_listed_key(host, pulled):
    state = json.loads(host.file("/var/lib/mi-harden/pull_mode.json").content_string)
    publisher = git_server("gpg --with-colons --fingerprint publisher@mi-pull-git | awk -F: '$1 == \"fpr\" {print $10; exit}'")
    assert state["verified"] is True and state["signer"] == publisher, state
    said = host.run("journalctl -u mi-pull.service -o cat --no-pager | grep -F 'mi-pull: commit '").stdout
    assert f"signed by {publisher}" in said, said


# A commit that would leave a mark on the terminal if any playbook of it ran (converge or
# audit, whatever the tags), published to the site's git server.
MARK = "/var/tmp/mi-unsigned-commit-ran"
PUBLISH = r"""
cd /srv/src
git reset -q --hard lab-signed
for pb in playbooks/site.yml playbooks/audit.yml; do
  python3 - "$pb" <<'PY'
import sys
path = sys.argv[1]
body = open(path).read().replace("---\n", "", 1)
mark = ("---\n- name: A play nobody signed\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Leave a mark\n      ansible.builtin.file:\n        path: {mark}\n        state: touch\n        mode: '0644'\n"
        "      tags: [always]\n")
open(path, "w").write(mark + body)
PY
done
git commit -qa {sign} -m "not signed by the publisher"
git push -q --force /srv/git/mi-harden.git HEAD:refs/heads/main
git rev-parse HEAD
"""


@pytest.mark.parametrize(("case", "sign"), [("unsigned", "--no-gpg-sign"),
                                             ("signed by a key not listed", "--gpg-sign=stranger@mi-pull-git")])
def test_a_commit_not_signed_by_a_listed_key_is_refused(host, pulled, case, sign):
    spool_before = host.check_output(f"ls -1 {SPOOL}")
    commit = git_server(PUBLISH.replace("{sign}", sign).replace("{mark}", MARK)).splitlines()[-1]
    try:
        run = host.run("systemctl start mi-pull.service")
        journal = host.run("journalctl -u mi-pull.service -o cat --no-pager -n 80").stdout
        assert run.rc != 0, f"{case}: the pull run succeeded\n{journal[-3000:]}"
        assert host.check_output("git -C /var/lib/mi-harden/pull/checkout rev-parse HEAD") == commit
        assert not host.file(MARK).exists, f"{case}: a playbook of the commit ran\n{journal[-3000:]}"
        state = json.loads(host.file("/var/lib/mi-harden/pull_mode.json").content_string)
        assert state["commit"] == commit and state["verified"] is False and state["pull_rc"] != 0, state
        assert state["audit_rc"] is None and state["report"] is None, state
        assert host.check_output(f"ls -1 {SPOOL}") == spool_before, f"{case}: a report was written from the commit"
        assert f"REFUSED: commit {commit} is not signed" in journal
    finally:
        git_server("git -C /srv/src reset -q --hard lab-signed && git -C /srv/src push -q --force /srv/git/mi-harden.git lab-signed:refs/heads/main")
