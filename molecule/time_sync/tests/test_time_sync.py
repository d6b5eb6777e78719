"""Role time_sync: the clock source and the polkit refusals, as they behave on the host."""

import re
import time

import pytest

NTP_SERVER = "mi-time-ntp"
testinfra_hosts = ["mi-time-sync"]


def _sources(host):
    """Lines of `chronyc -n sources` that describe a source (mode ^ = server)."""
    out = host.check_output("chronyc -n sources")
    return [line for line in out.splitlines() if re.match(r"^[=#^][*+?x~-] ", line)]


def test_chrony_uses_only_the_policy_ntp_server(host):
    """MI-TIME-01: chrony's one source is the policy's server, and it really answers."""
    server_ip = host.check_output(f"getent ahostsv4 {NTP_SERVER} | awk 'NR==1 {{print $1}}'")
    reach = "0"
    for _ in range(30):
        sources = _sources(host)
        assert len(sources) == 1, sources
        fields = sources[0].split()
        assert fields[1] == server_ip, sources
        reach = fields[4]
        if reach != "0":
            break
        time.sleep(2)
    assert reach != "0", f"the policy NTP server {NTP_SERVER} ({server_ip}) never answered"
    # nothing else could be added from DHCP or sources.d: the config names no sourcedir
    assert host.run("chronyd -p -f /etc/chrony/chrony.conf | grep -E '^(pool|sourcedir|peer)'").rc == 1


def test_chronyd_never_sets_the_shared_clock_in_a_container(host):
    """MI-TIME-01: in a container chronyd runs with -x (measures, never sets the host's clock)."""
    assert host.run("systemd-detect-virt --container").rc == 0
    args = host.check_output("ps -o args= -C chronyd")
    assert " -x" in args, args


def _pkcheck(host, user, action):
    return host.run(f"su {user} -s /bin/sh -c 'pkcheck --action-id {action} --process $$'")


@pytest.mark.parametrize("action", [
    "org.freedesktop.timedate1.set-time",
    "org.freedesktop.timedate1.set-timezone",
    "org.freedesktop.timedate1.set-ntp",
    "org.freedesktop.hostname1.set-hostname",
    "org.freedesktop.locale1.set-locale",
    "org.freedesktop.systemd1.manage-units",
])
def test_operator_is_refused_time_and_settings_changes(host, action):
    """MI-TIME-01: polkit refuses outright (rc 1, 'not authorized'), not merely asks (rc 2)."""
    check = _pkcheck(host, "operator1", action)
    assert check.rc == 1, (action, check.rc, check.stdout, check.stderr)


@pytest.mark.parametrize("action", [
    "org.freedesktop.timedate1.set-time",
    "org.freedesktop.timedate1.set-timezone",
])
def test_administrator_may_change_time(host, action):
    """MI-TIME-01: members of the administrators' group are authorised (rc 0)."""
    check = _pkcheck(host, "admin1", action)
    assert check.rc == 0, (action, check.rc, check.stdout, check.stderr)


def test_operator_timedatectl_is_denied_and_logged(host):
    """MI-TIME-01: `timedatectl set-timezone` as an operator fails; the zone stays; the refusal is logged.

    (set-time is never tried for real: in a container the clock is the host's.)
    """
    before = host.file("/etc/localtime").linked_to if host.file("/etc/localtime").is_symlink else None
    tried = host.run("su operator1 -s /bin/sh -c 'timedatectl set-timezone Pacific/Tarawa'")
    assert tried.rc != 0
    assert "Access denied" in tried.stderr or "not authorized" in tried.stderr.lower(), tried.stderr
    after = host.file("/etc/localtime").linked_to if host.file("/etc/localtime").is_symlink else None
    assert before == after
    log = host.run("journalctl -t mi-harden-polkit --no-pager -o cat"
                   " | grep 'org.freedesktop.timedate1.set-timezone refused to operator1'")
    assert log.rc == 0, log.stdout + log.stderr
