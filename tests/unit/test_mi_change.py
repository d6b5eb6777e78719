"""Filters of filter_plugins/mi_change.py: input checks and drift rules of the
change-control roles (audit_trail, file_integrity, time_sync, updates)."""

import pytest
from ansible.errors import AnsibleFilterError

from mi_change import (
    mi_abs_paths,
    mi_calendar_text,
    mi_integrity_drift,
    mi_mirror_url,
    mi_ntp_servers,
    mi_security_mirror,
    mi_update_drift,
)

NOW = 1_800_000_000.0


def test_paths_are_normalised_and_deduplicated():
    got = mi_abs_paths(["/var/lib/mi-client/data/", "/var/lib/mi-client/./data", "/opt/x"], "f")
    assert got == ["/var/lib/mi-client/data", "/opt/x"]
    assert mi_abs_paths(None, "f") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["var/lib/mi-client/data"], r"audit_trail_data_dirs\[0\]: 'var/lib/mi-client/data' is not an absolute path"),
        (["/ok", "relative"], r"audit_trail_data_dirs\[1\]: 'relative' is not an absolute path"),
        (["/with space"], r"audit_trail_data_dirs\[0\]: .* contains a space"),
        (["/"], r"audit_trail_data_dirs\[0\]: .* names the root directory"),
        ([""], r"audit_trail_data_dirs\[0\]: must be an absolute path"),
        ([None], r"audit_trail_data_dirs\[0\]: must be an absolute path"),
        ("/var/lib", r"audit_trail_data_dirs: must be a list"),
    ],
)
def test_bad_paths_name_the_field(value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_abs_paths(value, "audit_trail_data_dirs")


def test_empty_path_list_refused_when_required():
    with pytest.raises(AnsibleFilterError, match="file_integrity_paths: must name at least one"):
        mi_abs_paths([], "file_integrity_paths", allow_empty=False)


def test_ntp_servers_accept_names_and_addresses():
    assert mi_ntp_servers(["10.20.0.1", "ntp1.hosp-a.example", "fd00::123"], "f") == [
        "10.20.0.1", "ntp1.hosp-a.example", "fd00::123"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], r"time_sync_servers: is empty; the policy must name"),
        ("10.0.0.1", r"time_sync_servers: must be a list"),
        (None, r"time_sync_servers: must be a list"),
        (["10.0.0.1", "ntp_bad!"], r"time_sync_servers\[1\]: 'ntp_bad!' is neither"),
        (["10.0.0.300"], r"time_sync_servers\[0\]: '10.0.0.300' is neither"),
        ([""], r"time_sync_servers\[0\]: must be a host name"),
        (["ntp.a", "NTP.a"], r"time_sync_servers\[1\]: 'NTP.a' is listed twice"),
    ],
)
def test_bad_ntp_servers_name_the_field(value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_ntp_servers(value, "time_sync_servers")


def test_mirror_url_is_stripped():
    assert mi_mirror_url("http://10.20.0.5:3142/debian/", "f") == "http://10.20.0.5:3142/debian"
    assert mi_mirror_url(" https://deb.debian.org/debian ", "f") == "https://deb.debian.org/debian"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", r"updates_mirror: is empty; the policy must name"),
        (None, r"updates_mirror: is empty"),
        ("ftp://mirror/debian", r"updates_mirror: 'ftp://mirror/debian' is not an http"),
        ("deb.debian.org/debian", r"is not an http"),
        ("http:///debian", r"is not an http"),
        ("http://m/debian?x=1", r"must not hold spaces, a query"),
    ],
)
def test_bad_mirror_names_the_field(value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_mirror_url(value, "updates_mirror")


def test_security_mirror_derived_or_given():
    assert mi_security_mirror("http://10.20.0.5:3142/debian/") == "http://10.20.0.5:3142/debian-security"
    assert mi_security_mirror("http://m/x", "http://m/sec/") == "http://m/sec"
    with pytest.raises(AnsibleFilterError, match=r"updates_security_mirror: required, because updates_mirror 'http://m/x'"):
        mi_security_mirror("http://m/x")
    with pytest.raises(AnsibleFilterError, match=r"updates_security_mirror: 'ftp://s' is not"):
        mi_security_mirror("http://m/debian", "ftp://s")
    with pytest.raises(AnsibleFilterError, match=r"updates_mirror: is empty"):
        mi_security_mirror("")


def test_calendar_text_precheck():
    assert mi_calendar_text(" *-*-* 03:30 ", "f") == "*-*-* 03:30"
    for bad in ("", None, 5, "daily\nOnCalendar=x", "'daily'"):
        with pytest.raises(AnsibleFilterError, match="updates_schedule: "):
            mi_calendar_text(bad, "updates_schedule")


def test_integrity_clean_recent_check_is_no_drift():
    state = {"epoch": NOW - 3600, "result": "clean", "added": [], "removed": [], "changed": []}
    assert mi_integrity_drift(state, NOW, 36) == []


def test_integrity_changes_are_drift_until_accepted():
    state = {"epoch": NOW - 60, "result": "changes", "changed": ["/opt/mi-client/bin/mi-client"], "added": ["/etc/x"]}
    drift = mi_integrity_drift(state, NOW, 36)
    assert "1 file(s) changed since the accepted baseline: /opt/mi-client/bin/mi-client" in drift
    assert "1 file(s) added since the accepted baseline: /etc/x" in drift


def test_integrity_old_missing_or_failed_check_is_drift():
    assert "last integrity check is 48 h old (policy: at most 36 h)" in mi_integrity_drift(
        {"epoch": NOW - 48 * 3600, "result": "clean"}, NOW, 36)
    assert mi_integrity_drift(None, NOW, 36)[0].startswith("no integrity check recorded yet")
    assert "last integrity check failed (aide exit 17)" in mi_integrity_drift(
        {"epoch": NOW, "result": "error", "exit_code": 17}, NOW, 36)


def test_integrity_long_lists_are_shortened():
    state = {"epoch": NOW, "result": "changes", "changed": [f"/f{i}" for i in range(25)]}
    assert mi_integrity_drift(state, NOW, 36)[0].endswith("/f9 and 15 more")


def test_updates_recent_and_none_pending_is_no_drift():
    assert mi_update_drift(0, NOW - 3600, NOW - 3600, NOW, 0, 3) == []


def test_updates_drift_cases():
    drift = mi_update_drift(4, NOW - 10 * 86400, None, NOW, 0, 3)
    assert "last successful unattended upgrade run is 10.0 days old (policy: at most 3 days)" in drift
    assert "no successful package list refresh recorded yet" in drift
    assert "4 security update(s) pending (policy: at most 0)" in drift
    assert "the number of pending security updates could not be read" in mi_update_drift(None, NOW, NOW, NOW, 0, 3)
    assert mi_update_drift(2, NOW, NOW, NOW, 2, 3) == []
