"""Filters of filter_plugins/mi_backup.py: backup policy, backup disks as mounted, drift."""

import json
import os

import pytest
from ansible.errors import AnsibleFilterError

from mi_backup import mi_backup_drift, mi_backup_host_state, mi_backup_policy

POLICY = {
    "backup_sources": ["/var/lib/mi-client/data", "/var/lib/mi-client/db/", "/etc"],
    "backup_targets": [
        {"name": "disk1", "mount": "/srv/mi-backup/disk1"},
        {"name": "disk2", "mount": "/srv/mi-backup/disk2"},
    ],
    "backup_repository_password": "correct horse battery staple",
    "backup_schedule": "daily",
}


def policy(**changes):
    return mi_backup_policy(dict(POLICY, **changes))


def test_policy_is_normalised_and_carries_no_password():
    out = policy()
    assert out["sources"] == ["/var/lib/mi-client/data", "/var/lib/mi-client/db", "/etc"]
    assert out["targets"][1] == {"name": "disk2", "mount": "/srv/mi-backup/disk2",
                                 "repository": "/srv/mi-backup/disk2/mi-harden-restic"}
    assert out["keep"] == {"daily": 7, "weekly": 4, "monthly": 12}
    assert out["unmounted_target"] == "fail"
    assert "correct horse" not in json.dumps(out)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # one target disk only
        ({"backup_targets": [{"name": "disk1", "mount": "/srv/mi-backup/disk1"}]},
         r"^backup_targets: 1 backup disk\(s\) named, the policy requires at least 2 distinct disks"),
        ({"backup_targets": []}, r"^backup_targets: 0 backup disk"),
        ({"backup_targets": None}, r"^backup_targets: must be a list"),
        # a target inside the data being backed up
        ({"backup_targets": [{"name": "disk1", "mount": "/srv/mi-backup/disk1"},
                             {"name": "disk2", "mount": "/var/lib/mi-client/data/backup"}]},
         r"^backup_targets\[1\] \('disk2'\)\.mount: /var/lib/mi-client/data/backup is inside the data being "
         r"backed up \(backup_sources\[0\] /var/lib/mi-client/data\)"),
        ({"backup_targets": [{"name": "disk1", "mount": "/etc/bk"}, {"name": "disk2", "mount": "/srv/b"}]},
         r"backup_targets\[0\] \('disk1'\)\.mount: /etc/bk is inside the data"),
        # ... or holding it
        ({"backup_targets": [{"name": "disk1", "mount": "/var/lib"}, {"name": "disk2", "mount": "/srv/b"}]},
         r"backup_targets\[0\] \('disk1'\)\.mount: /var/lib contains the data being backed up"),
        # a missing vault password
        ({"backup_repository_password": ""}, r"^backup_repository_password: not set\. .*Ansible Vault"),
        ({"backup_repository_password": None}, r"^backup_repository_password: not set"),
        ({"backup_repository_password": "short"}, r"^backup_repository_password: must be one line of at least 12"),
        # an invalid schedule (syntax; systemd-analyze judges the rest on the host)
        ({"backup_schedule": ""}, r"^backup_schedule: '' must be a systemd calendar expression"),
        ({"backup_schedule": "daily\nOnBootSec=1"}, r"^backup_schedule: "),
        ({"backup_check_schedule": None}, r"^backup_check_schedule: "),
        # other fields
        ({"backup_targets": [{"name": "disk1", "mount": "/srv/a"}, {"name": "disk1", "mount": "/srv/b"}]},
         r"backup_targets\[1\] \('disk1'\)\.name: 'disk1' is already used by backup_targets\[0\]"),
        ({"backup_targets": [{"name": "disk1", "mount": "/srv/a"}, {"name": "disk2", "mount": "/srv/a/b"}]},
         r"backup_targets\[1\] \('disk2'\)\.mount: /srv/a/b overlaps backup_targets\[0\]"),
        ({"backup_targets": [{"name": "disk1", "mount": "srv/a"}, {"name": "disk2", "mount": "/srv/b"}]},
         r"backup_targets\[0\] \('disk1'\)\.mount: 'srv/a' must be an absolute path"),
        ({"backup_targets": [{"name": "disk1", "mount": "/"}, {"name": "disk2", "mount": "/srv/b"}]},
         r"\.mount: '/' is the system disk"),
        ({"backup_targets": [{"name": "Disk 1", "mount": "/srv/a"}, {"name": "disk2", "mount": "/srv/b"}]},
         r"backup_targets\[0\] \('Disk 1'\)\.name: 'Disk 1' must be a short lower-case name"),
        ({"backup_targets": [{"name": "disk1", "mount": "/srv/a", "uuid": "x"}, {"name": "disk2", "mount": "/srv/b"}]},
         r"backup_targets\[0\] \('disk1'\): unknown field\(s\) \['uuid'\]"),
        ({"backup_targets": ["/srv/a", "/srv/b"]}, r"backup_targets\[0\]: must be a mapping"),
        ({"backup_sources": []}, r"^backup_sources: a non-empty list"),
        ({"backup_sources": ["/"]}, r"^backup_sources\[0\]: '/' is not allowed"),
        ({"backup_sources": ["/etc", "/etc/"]}, r"^backup_sources\[1\]: /etc is listed twice"),
        ({"backup_sources": ["etc"]}, r"^backup_sources\[0\]: 'etc' must be an absolute path"),
        ({"backup_keep_daily": 0}, r"^backup_keep_daily: must keep at least 1"),
        ({"backup_keep_weekly": -1}, r"^backup_keep_weekly: -1 must be a whole number >= 0"),
        ({"backup_keep_monthly": "12"}, r"^backup_keep_monthly: '12' must be a whole number"),
        ({"backup_min_targets": 1}, r"^backup_min_targets: 1 must be a whole number >= 2"),
        ({"backup_max_age_hours": 0}, r"^backup_max_age_hours: 0 must be a whole number >= 1"),
        ({"backup_unmounted_target": "ignore"}, r"^backup_unmounted_target: 'ignore' is not one of"),
        ({"backup_repository_dir": "a/b"}, r"^backup_repository_dir: 'a/b' must be one directory name"),
        ({"backup_exclude": "*.tmp"}, r"^backup_exclude: must be a list"),
    ],
)
def test_bad_policy_names_the_field(changes, message):
    with pytest.raises(AnsibleFilterError, match=message):
        policy(**changes)


def test_password_never_appears_in_an_error():
    secret = "s3cr\net-value-long-enough"
    with pytest.raises(AnsibleFilterError) as err:
        policy(backup_repository_password=secret)
    assert "s3cr" not in str(err.value)


def test_three_disks_can_be_required():
    with pytest.raises(AnsibleFilterError, match="at least 3 distinct disks"):
        policy(backup_min_targets=3)


# ----------------------------------------------------------------------------- host state
def stat_results(paths_devs):
    """Results of an ansible.builtin.stat loop: {path: st_dev or None (absent)}."""
    return [{"item": p, "stat": {"exists": d is not None, "isdir": True, "dev": d}} for p, d in paths_devs.items()]


def findmnt(*entries):
    return json.dumps({"filesystems": [{"target": t, "source": s, "fstype": f} for t, s, f in entries]})


ROOT_DEV = os.makedev(0, 40)
DISK1_DEV = os.makedev(8, 17)
DISK2_DEV = os.makedev(8, 33)
MOUNTS = [("/", "/dev/sda2", "ext4"), ("/srv/mi-backup/disk1", "/dev/sdb1", "ext4"),
          ("/srv/mi-backup/disk2", "/dev/sdc1", "ext4")]
LSBLK = json.dumps({"blockdevices": [
    {"name": "sda", "path": "/dev/sda", "type": "disk", "pkname": None},
    {"name": "sda2", "path": "/dev/sda2", "type": "part", "pkname": "sda"},
    {"name": "sdb", "path": "/dev/sdb", "type": "disk", "pkname": None},
    {"name": "sdb1", "path": "/dev/sdb1", "type": "part", "pkname": "sdb"},
    {"name": "sdb2", "path": "/dev/sdb2", "type": "part", "pkname": "sdb"},
    {"name": "sdc", "path": "/dev/sdc", "type": "disk", "pkname": None},
    {"name": "sdc1", "path": "/dev/sdc1", "type": "part", "pkname": "sdc"},
]})
SOURCES = {"/var/lib/mi-client/data": ROOT_DEV, "/var/lib/mi-client/db": ROOT_DEV, "/etc": ROOT_DEV}


def state(targets=None, mounts=MOUNTS, lsblk=LSBLK, sources=None):
    targets = targets or {"/srv/mi-backup/disk1": DISK1_DEV, "/srv/mi-backup/disk2": DISK2_DEV}
    return mi_backup_host_state(policy(), stat_results(targets), stat_results(sources or SOURCES),
                                findmnt(*mounts), lsblk)


def test_two_disks_mounted():
    out = state()
    assert out["mounted"] == ["disk1", "disk2"] and out["missing"] == []
    assert out["targets"][0]["disks"] == ["sdb"] and out["targets"][0]["device"] == "8:17"


def test_unmounted_disk_is_missing_not_refused():
    """The empty mount point lies on the root filesystem: missing, not 'same as the data'."""
    out = state(targets={"/srv/mi-backup/disk1": DISK1_DEV, "/srv/mi-backup/disk2": ROOT_DEV},
                mounts=MOUNTS[:2])
    assert out["missing"] == ["disk2"] and out["mounted"] == ["disk1"]
    out = state(targets={"/srv/mi-backup/disk1": DISK1_DEV, "/srv/mi-backup/disk2": None}, mounts=MOUNTS[:2])
    assert out["missing"] == ["disk2"]


def test_second_target_on_the_same_filesystem_is_refused():
    """A bind mount of the first disk: another path, the same st_dev."""
    mounts = MOUNTS[:2] + [("/srv/mi-backup/disk2", "/dev/sdb1[/second]", "ext4")]
    with pytest.raises(AnsibleFilterError,
                       match=r"backup_targets\[1\] \('disk2'\) at /srv/mi-backup/disk2: is on the same filesystem "
                             r"\(device 8:17, /dev/sdb1\[/second\]\) as another backup disk, backup_targets\[0\]"):
        state(targets={"/srv/mi-backup/disk1": DISK1_DEV, "/srv/mi-backup/disk2": DISK1_DEV}, mounts=mounts)


def test_two_tmpfs_are_distinct_although_their_source_names_match():
    mounts = [("/", "overlay", "overlay"), ("/srv/mi-backup/disk1", "tmpfs", "tmpfs"),
              ("/srv/mi-backup/disk2", "tmpfs", "tmpfs")]
    out = state(targets={"/srv/mi-backup/disk1": os.makedev(0, 108), "/srv/mi-backup/disk2": os.makedev(0, 109)},
                mounts=mounts, lsblk="")
    assert out["mounted"] == ["disk1", "disk2"]


def test_two_partitions_of_one_disk_are_refused():
    mounts = MOUNTS[:2] + [("/srv/mi-backup/disk2", "/dev/sdb2", "ext4")]
    with pytest.raises(AnsibleFilterError, match=r"backup_targets\[1\] .* is on the same disk \(sdb\) as another backup disk"):
        state(targets={"/srv/mi-backup/disk1": DISK1_DEV, "/srv/mi-backup/disk2": os.makedev(8, 18)}, mounts=mounts)


def test_target_on_the_filesystem_of_the_data_is_refused():
    """A path outside the data by name, but a bind mount of the data's filesystem."""
    mounts = MOUNTS[:2] + [("/srv/mi-backup/disk2", "/dev/sda2[/srv/x]", "ext4")]
    with pytest.raises(AnsibleFilterError,
                       match=r"backup_targets\[1\] .* same filesystem .* as the data it backs up, "
                             r"backup_sources\[0\] /var/lib/mi-client/data"):
        state(targets={"/srv/mi-backup/disk1": DISK1_DEV, "/srv/mi-backup/disk2": ROOT_DEV}, mounts=mounts)


def test_target_on_another_partition_of_the_data_disk_is_refused():
    mounts = MOUNTS[:2] + [("/srv/mi-backup/disk2", "/dev/sda3", "ext4")]
    lsblk = json.loads(LSBLK)
    lsblk["blockdevices"].append({"name": "sda3", "path": "/dev/sda3", "type": "part", "pkname": "sda"})
    with pytest.raises(AnsibleFilterError, match=r"same disk \(sda\) as the data it backs up"):
        state(targets={"/srv/mi-backup/disk1": DISK1_DEV, "/srv/mi-backup/disk2": os.makedev(8, 3)},
              mounts=mounts, lsblk=json.dumps(lsblk))


def test_missing_sources_are_not_compared():
    out = state(sources={"/var/lib/mi-client/data": None, "/var/lib/mi-client/db": None, "/etc": ROOT_DEV})
    assert out["mounted"] == ["disk1", "disk2"]


# ----------------------------------------------------------------------------- drift
NOW = 1_800_000_000.0


def iso(hours_ago):
    import datetime as dt
    return dt.datetime.fromtimestamp(NOW - hours_ago * 3600, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(**per_disk):
    return json.dumps({"schema": 1, "targets": per_disk})


def good(hours_ago=2):
    return {"last_success": iso(hours_ago), "last_attempt": iso(hours_ago), "last_ok": True}


DRILL_OK = json.dumps({"time": iso(24), "ok": True, "targets": {"disk1": {"ok": True}, "disk2": {"ok": True}}})


def drift(st=None, check=None, drill=DRILL_OK, host=None):
    return mi_backup_drift(host or state(), st, check, drill, max_age_hours=26, check_max_age_days=8,
                           drill_max_age_days=92, now=NOW)


def test_fresh_good_backups_are_no_drift():
    out = drift(status(disk1=good(), disk2=good(25)),
                json.dumps({"targets": {"disk1": {"last_check": iso(48), "ok": True}}}))
    assert out == {"MI-BAK-01": [], "MI-BAK-02": []}


def test_old_backup_on_one_disk_is_drift():
    out = drift(status(disk1=good(), disk2=good(30)))
    assert out["MI-BAK-01"] == [
        f"last good backup on 'disk2' is 30.0 h old ({iso(30)}); the policy allows 26 h"]


def test_no_backup_yet_is_drift():
    out = drift(None)
    assert out["MI-BAK-01"] == ["no successful backup to 'disk1' on record", "no successful backup to 'disk2' on record"]


def test_missing_disk_and_failed_run_are_drift():
    host = state(targets={"/srv/mi-backup/disk1": DISK1_DEV, "/srv/mi-backup/disk2": ROOT_DEV}, mounts=MOUNTS[:2])
    failed = dict(good(5), last_ok=False, last_error="not mounted", last_attempt=iso(1))
    out = drift(status(disk1=good(1), disk2=failed), host=host)
    assert out["MI-BAK-01"][0] == "backup disk 'disk2' is not mounted at /srv/mi-backup/disk2 (disk missing?)"
    assert out["MI-BAK-01"][1].startswith("the last backup run failed on 'disk2'")
    assert len(out["MI-BAK-01"]) == 2


def test_failed_or_old_integrity_check_is_drift():
    check = json.dumps({"targets": {"disk1": {"last_check": iso(1), "ok": False, "error": "pack damaged"},
                                    "disk2": {"last_check": iso(24 * 10), "ok": True}}})
    out = drift(status(disk1=good(), disk2=good()), check)["MI-BAK-01"]
    assert out[0] == f"integrity check (restic check) of 'disk1' failed at {iso(1)}: pack damaged"
    assert out[1] == "last integrity check of 'disk2' is 10.0 days old; the policy allows 8 days"


def test_unreadable_status_is_drift():
    out = drift("{not json")
    assert out["MI-BAK-01"][0].startswith("status file backup.json is unreadable")


def test_restore_drill_drift():
    assert drift(status(disk1=good(), disk2=good()), drill=None)["MI-BAK-02"] == [
        "no restore drill on record: run playbooks/restore_drill.yml"]
    old = json.dumps({"time": iso(24 * 100), "targets": {"disk1": {"ok": True}, "disk2": {"ok": False, "error": "x"}}})
    out = drift(status(disk1=good(), disk2=good()), drill=old)["MI-BAK-02"]
    assert out[0].startswith("last restore drill (") and "older than the 92 days" in out[0]
    assert out[1] == f"restore drill from 'disk2' failed at {iso(2400)}: x"
    partial = json.dumps({"time": iso(1), "targets": {"disk1": {"ok": True}}})
    assert drift(status(disk1=good(), disk2=good()), drill=partial)["MI-BAK-02"] == [
        "backup disk 'disk2' was not part of the last restore drill"]
