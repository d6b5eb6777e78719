"""Filters of filter_plugins/mi_antivirus.py: antivirus policy check and health."""

import pytest
from ansible.errors import AnsibleFilterError

from mi_antivirus import (
    check_schedule,
    mi_antivirus_settings,
    mi_av_push_sources,
    mi_av_scan_drift,
    mi_av_signature_build_time,
    mi_av_signature_drift,
)

GOOD = {
    "antivirus_signature_mode": "push",
    "antivirus_private_mirrors": [],
    "antivirus_mirror_custom_urls": [],
    "antivirus_push_files": ["lab-signatures/*"],
    "antivirus_signature_max_age_days": 7,
    "antivirus_scan_paths": ["/var/lib/mi-client/data", "/var/lib/mi-client/db/", "/home", "/home"],
    "antivirus_scan_schedule": " *-*-* 12:30:00 ",
    "antivirus_scan_max_age_hours": 48,
    "antivirus_onaccess_paths": ["/home"],
    "antivirus_quarantine_dir": "/var/lib/mi-harden/antivirus/quarantine",
    "antivirus_database_dir": "/var/lib/clamav",
}
DAY = 86400
NOW = 1_800_000_000
# Header of a real daily.cvd (fields: magic, time, version, sigs, flevel, md5, dsig, builder, stime).
CVD_HEADER = "ClamAV-VDB:20 Nov 2024 09-52 +0000:27464:2069744:90:abc:def:raynman:1732096320" + " " * 300


def test_good_settings_are_normalised():
    s = mi_antivirus_settings(GOOD)
    assert s["mode"] == "push"
    assert s["scan_paths"] == ["/var/lib/mi-client/data", "/var/lib/mi-client/db", "/home"]
    assert s["scan_schedule"] == "*-*-* 12:30:00"
    mirror = dict(GOOD, antivirus_signature_mode="mirror", antivirus_push_files=[],
                  antivirus_private_mirrors=["http://10.20.0.6/clamav"])
    assert mi_antivirus_settings(mirror)["private_mirrors"] == ["http://10.20.0.6/clamav"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"antivirus_signature_mode": "floppy"}, r"antivirus_signature_mode: 'floppy' is not one of \['mirror', 'push'\]"),
        ({"antivirus_signature_mode": "mirror"}, r"antivirus_private_mirrors: mirror mode needs at least one URL"),
        ({"antivirus_private_mirrors": ["ftp://m/clamav"]}, r"antivirus_private_mirrors\[0\]: 'ftp://m/clamav' is not an http"),
        ({"antivirus_mirror_custom_urls": "http://m/x.hdb"}, r"antivirus_mirror_custom_urls: must be a list"),
        ({"antivirus_push_files": []}, r"antivirus_push_files: push mode needs at least one signature file"),
        ({"antivirus_push_files": ["/srv/clamav/readme.txt"]}, r"antivirus_push_files\[0\]: '/srv/clamav/readme.txt' is not a ClamAV database"),
        ({"antivirus_scan_paths": ["var/lib/mi-client/data"]}, r"antivirus_scan_paths\[0\]: 'var/lib/mi-client/data' is not an absolute path"),
        ({"antivirus_scan_paths": []}, r"antivirus_scan_paths: at least one directory is required"),
        ({"antivirus_scan_paths": "/home"}, r"antivirus_scan_paths: must be a list"),
        ({"antivirus_scan_paths": ["/"]}, r"antivirus_scan_paths\[0\]: '/' is not allowed"),
        ({"antivirus_onaccess_paths": ["/home/my docs"]}, r"antivirus_onaccess_paths\[0\]: .* contains a space"),
        ({"antivirus_onaccess_paths": ["relative"]}, r"antivirus_onaccess_paths\[0\]: 'relative' is not an absolute path"),
        ({"antivirus_quarantine_dir": "quarantine"}, r"antivirus_quarantine_dir: 'quarantine' is not an absolute path"),
        ({"antivirus_quarantine_dir": "/home/quarantine"}, r"antivirus_quarantine_dir: '/home/quarantine' overlaps antivirus_scan_paths\[2\]"),
        ({"antivirus_scan_schedule": "daily; rm -rf /"}, r"antivirus_scan_schedule: .* is not a systemd calendar expression"),
        ({"antivirus_scan_schedule": ""}, r"antivirus_scan_schedule: '' is not a systemd calendar"),
        ({"antivirus_signature_max_age_days": 0}, r"antivirus_signature_max_age_days: 0 must be a whole number"),
        ({"antivirus_scan_max_age_hours": "48"}, r"antivirus_scan_max_age_hours: '48' must be a whole number"),
    ],
)
def test_bad_settings_name_the_field(change, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_antivirus_settings(dict(GOOD, **change))


def test_missing_settings_are_named():
    with pytest.raises(AnsibleFilterError, match=r"missing \['antivirus_database_dir'\]"):
        mi_antivirus_settings({k: v for k, v in GOOD.items() if k != "antivirus_database_dir"})


@pytest.mark.parametrize("expr", ["daily", "*-*-* 12:30:00", "Mon..Fri *-*-* 02:00", "*-*-* 02:00 Asia/Shanghai"])
def test_schedule_shape_accepts_calendar_expressions(expr):
    assert check_schedule(expr) == expr


def test_push_sources_checks_every_pattern_and_name():
    role_files = "/work/roles/antivirus/files/lab-signatures/mi-lab.hdb"
    sources = mi_av_push_sources(["lab-signatures/*", "/srv/clamav/*.cvd"],
                                 [role_files, "/srv/clamav/main.cvd", "/srv/clamav/daily.cvd"])
    assert [s["name"] for s in sources] == ["daily.cvd", "main.cvd", "mi-lab.hdb"]
    with pytest.raises(AnsibleFilterError, match=r"antivirus_push_files\[1\]: '/srv/none/\*.cvd' matches no file"):
        mi_av_push_sources(["lab-signatures/*", "/srv/none/*.cvd"], [role_files])
    with pytest.raises(AnsibleFilterError, match=r"would both be pushed as 'daily.cvd'"):
        mi_av_push_sources(["/a/*.cvd", "/b/*.cvd"], ["/a/daily.cvd", "/b/daily.cvd"])
    with pytest.raises(AnsibleFilterError, match=r"'/a/notes.txt' is not a ClamAV database"):
        mi_av_push_sources(["/a/*"], ["/a/notes.txt"])


def test_build_time_from_cvd_header():
    assert mi_av_signature_build_time(CVD_HEADER) == 1732096320
    assert mi_av_signature_build_time("not a header") is None
    assert mi_av_signature_build_time("ClamAV-VDB:x:1") is None


def test_fresh_signatures_are_not_drift():
    files = [{"path": "/var/lib/clamav/mi-lab.hdb", "mtime": NOW - 2 * DAY}]
    assert mi_av_signature_drift(files, {}, NOW, 7) == []


def test_signatures_older_than_policy_are_drift():
    files = [{"path": "/var/lib/clamav/mi-lab.hdb", "mtime": NOW - 30 * DAY}, {"path": "/var/lib/clamav/freshclam.dat", "mtime": NOW}]
    drift = mi_av_signature_drift(files, {}, str(NOW), 7)
    assert len(drift) == 1 and "30 d 0 h old" in drift[0] and "mi-lab.hdb" in drift[0] and "allows 7 d" in drift[0]


def test_cvd_age_is_its_build_time_not_its_mtime():
    daily = "/var/lib/clamav/daily.cvd"
    files = [{"path": daily, "mtime": NOW}]  # freshly copied, but built long ago
    drift = mi_av_signature_drift(files, {daily: CVD_HEADER}, NOW, 7)
    assert drift and "2024-11-20" in drift[0]
    # the newest file decides: an old main.cvd beside a fresh daily is fine
    fresh = CVD_HEADER.replace("1732096320", str(NOW - DAY))
    files = [{"path": "/var/lib/clamav/main.cvd", "mtime": NOW}, {"path": daily, "mtime": NOW}]
    assert mi_av_signature_drift(files, {daily: fresh, "/var/lib/clamav/main.cvd": CVD_HEADER}, NOW, 7) == []


def test_no_database_is_drift():
    assert "no signature database" in mi_av_signature_drift([{"path": "/var/lib/clamav/freshclam.dat", "mtime": NOW}], {}, NOW, 7)[0]


def test_scan_drift():
    ok = {"finished": NOW - 3600, "result": "clean"}
    assert mi_av_scan_drift(ok, NOW, 48) == []
    assert mi_av_scan_drift(None, NOW, 48) == ["no scheduled scan has completed yet"]
    old = mi_av_scan_drift({"finished": NOW - 3 * DAY, "result": "clean"}, NOW, 48)
    assert len(old) == 1 and "3 d 0 h ago" in old[0] and "allows 48 h" in old[0]
    failed = mi_av_scan_drift({"finished": NOW, "result": "error", "error": "Could not connect to clamd"}, NOW, 48)
    assert failed and "Could not connect to clamd" in failed[0]
    assert mi_av_scan_drift(ok, NOW, 48, quarantined=2) == ["2 file(s) in quarantine awaiting review"]
