"""Role updates: sources, schedule and the audit of pending updates, on the converged host."""

import json
import os
import subprocess

import pytest

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"


def _play(*args, check=True):
    """Run the scenario's converge playbook (check mode by default) with the JSON callback."""
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
           os.path.join(scenario, "converge.yml"), *args]
    if check:
        cmd.append("--check")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=600)


def _facts(proc, name):
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    found = [res["ansible_facts"][name] for play in result["plays"] for task in play["tasks"]
             for res in task["hosts"].values() if name in res.get("ansible_facts", {})]
    assert found, f"no task set {name}: {proc.stderr[-2000:]}"
    return found[-1]


def test_apt_uses_only_the_policy_mirror(host):
    """MI-UPD-01: apt-get update fetches from the mirror only; the foreign source is gone."""
    update = host.run("apt-get update")
    assert update.rc == 0, update.stdout + update.stderr
    fetched = [line for line in update.stdout.splitlines() if line.startswith(("Hit:", "Get:", "Ign:", "Err:"))]
    assert fetched, update.stdout
    assert all(f" {MIRROR} " in line or f" {SECURITY} " in line for line in fetched), fetched
    assert any(f" {SECURITY} bookworm-security" in line for line in fetched), fetched
    assert not host.file("/etc/apt/sources.list.d/vendor.list").exists
    # apt's own view of its index targets: the mirror's, nothing else
    uris = set(host.check_output("apt-get indextargets --format '$(SITE)'").split())
    assert uris <= {MIRROR, SECURITY, MIRROR + "/", SECURITY + "/"}, uris


def test_unattended_upgrades_timer_on_policy_schedule(host):
    """MI-UPD-01: apt-daily-upgrade.timer is active and fires on the policy's schedule."""
    assert host.service("apt-daily-upgrade.timer").is_running
    assert host.service("apt-daily-upgrade.timer").is_enabled
    assert host.service("apt-daily.timer").is_running
    cal = host.check_output("systemctl show -p TimersCalendar apt-daily-upgrade.timer")
    assert "Mon..Fri *-*-* 12:15:00" in cal, cal
    assert "06,18" not in cal  # the package's default schedule is replaced, not added to


def test_unattended_upgrades_takes_security_origins_only(host):
    """MI-UPD-01: unattended-upgrade's resolved configuration: security origins, daily."""
    dump = host.check_output("apt-config dump")
    patterns = [line for line in dump.splitlines() if line.startswith("Unattended-Upgrade::Origins-Pattern:: ")]
    assert patterns and all("Debian-Security" in p for p in patterns), patterns
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    dry = host.run("unattended-upgrade --dry-run --debug 2>&1 | grep -i 'allowed origins'")
    assert "Debian-Security" in dry.stdout and "label=Debian," not in dry.stdout, dry.stdout


def test_audit_reports_age_of_last_update(host):
    """MI-UPD-01: an old last successful update is drift; a recent one is not."""
    host.run("touch -d '10 days ago' /var/lib/apt/periodic/upgrade-stamp /var/lib/apt/periodic/update-stamp")
    old = _facts(_play("--tags", "MI-UPD-01"), "updates_drift")["MI-UPD-01"]
    assert any("unattended upgrade run is 10.0 days old" in d for d in old), old
    host.run("touch /var/lib/apt/periodic/upgrade-stamp /var/lib/apt/periodic/update-stamp")
    proc = _play("--tags", "MI-UPD-01")
    fresh = _facts(proc, "updates_drift")["MI-UPD-01"]
    assert not any("days old" in d or "recorded yet" in d for d in fresh), fresh
    pending = _facts(proc, "updates_pending_security")
    sim = host.run("apt-get -s -o Debug::NoLocking=1 dist-upgrade | grep -c '^Inst .*-security'")
    assert int(pending) == int(sim.stdout.strip() or 0)


@pytest.mark.parametrize(("field", "value"), [
    ("updates_schedule", "every tuesday-ish"),
    ("updates_refresh_schedule", "25:99"),
])
def test_bad_schedule_stops_the_run_naming_the_field(host, field, value):
    """Bad input: a schedule systemd-analyze rejects fails the run in validation, before any change."""
    before = host.file("/etc/systemd/system/apt-daily-upgrade.timer.d/mi-harden.conf").content_string
    proc = _play("-e", json.dumps({field: value}), check=False)
    assert proc.returncode != 0
    assert f"{field}: \\\"{value}\\\" is not a systemd calendar expression" in proc.stdout or \
        f'{field}: "{value}" is not a systemd calendar expression' in proc.stdout, proc.stdout[-3000:]
    assert host.file("/etc/systemd/system/apt-daily-upgrade.timer.d/mi-harden.conf").content_string == before
