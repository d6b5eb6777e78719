"""Backup filters: the backup policy, the disks it names as the host mounts them, and drift.

The policy (role ``backup``, MI-BAK-01/02) names the data to protect and at least two
backup disks, each by the mount point where the site mounts it::

    backup_sources: [/var/lib/mi-client/data, /var/lib/mi-client/db, /etc]
    backup_targets:
      - {name: disk1, mount: /srv/mi-backup/disk1}
      - {name: disk2, mount: /srv/mi-backup/disk2}

Copies on "different disks" (GZ-C1b) are judged by the mounted devices, never by path
strings: two targets on the same filesystem (same ``st_dev``, e.g. a bind mount) or on the
same physical disk (two partitions of one drive), or on the filesystem/disk of the data,
are refused.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import posixpath
import re
import time
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_backup
short_description: Backup policy validation, backup disk checks and backup drift for mi-harden
description:
  - C(mi_backup_policy) checks the role's input (sources, targets, retention, schedules, the
    repository password) and returns it normalised, without the password.
  - C(mi_backup_host_state) joins the policy with what the host mounts (stat, findmnt, lsblk)
    and refuses targets that share a filesystem or a disk with each other or with the data.
  - C(mi_backup_drift) reads the status files the role's timers write and returns the drift
    of MI-BAK-01 (backups) and MI-BAK-02 (restore drills).
"""

EXAMPLES = r"""
policy: "{{ {'backup_sources': backup_sources, 'backup_targets': backup_targets, ...} | mi_backup_policy }}"
state: "{{ policy | mi_backup_host_state(target_stats, source_stats, findmnt_json, lsblk_json) }}"
drift: "{{ state | mi_backup_drift(status_text, check_text, drill_text, max_age_hours=26) }}"
"""

RETURN = r"""
_value:
  description: the normalised policy, the per-target host state, or drift messages by control id.
"""

TARGET_FIELDS = {"name", "mount", "notes"}
UNMOUNTED_ACTIONS = ("fail", "report")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_REPO_DIR_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_UNSAFE_PATH_RE = re.compile(r"[\n\r\t\x00]")
MIN_PASSWORD_LENGTH = 12


# ----------------------------------------------------------------------------- policy
def _abs_path(value: Any, field: str) -> str:
    """A normalised absolute path, or an error naming the field."""
    if not isinstance(value, str) or not value.startswith("/") or _UNSAFE_PATH_RE.search(value):
        raise AnsibleFilterError(f"{field}: {value!r} must be an absolute path (starting with /, one line)")
    path = posixpath.normpath(value)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if ".." in path.split("/"):
        raise AnsibleFilterError(f"{field}: {value!r} must not contain '..'")
    return path


def _inside(path: str, parent: str) -> bool:
    """True when ``path`` is ``parent`` or below it (by path components, not characters)."""
    return path == parent or parent == "/" or path.startswith(parent.rstrip("/") + "/")


def _count(value: Any, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AnsibleFilterError(f"{field}: {value!r} must be a whole number >= {minimum}")
    return value


def _calendar(value: Any, field: str) -> str:
    """Syntax only (one line, not empty); systemd-analyze calendar judges it on the host."""
    if not isinstance(value, str) or not value.strip() or _UNSAFE_PATH_RE.search(value):
        raise AnsibleFilterError(f"{field}: {value!r} must be a systemd calendar expression (e.g. 'daily')")
    return value.strip()


def _target_where(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"backup_targets[{index}]" + (f" ({name!r})" if isinstance(name, str) and name else "")


def mi_backup_policy(cfg: dict[str, Any]) -> dict[str, Any]:
    """Check the backup role's input and return it normalised (without the password).

    ``cfg`` maps the role's variable names (backup_sources, backup_targets,
    backup_repository_password, ...) to their values, so every error names the variable.
    The password is checked for presence and shape only; it is never part of a message
    nor of the result.
    """
    if not isinstance(cfg, dict):
        raise AnsibleFilterError("mi_backup_policy: expects a mapping of the backup_* variables")

    password = cfg.get("backup_repository_password")
    if password is None or (isinstance(password, str) and not password.strip()):
        raise AnsibleFilterError(
            "backup_repository_password: not set. The restic repository password comes from "
            "Ansible Vault: put `vault_backup_repository_password: ...` in an encrypted vars file "
            "of the site (ansible-vault create inventories/<site>/group_vars/<group>/vault.yml) "
            "and run with --ask-vault-pass or --vault-id (see roles/backup/README.md)"
        )
    if not isinstance(password, str):
        raise AnsibleFilterError("backup_repository_password: must be a text (from an Ansible Vault file)")
    if len(password) < MIN_PASSWORD_LENGTH or "\n" in password or "\r" in password:
        raise AnsibleFilterError(
            f"backup_repository_password: must be one line of at least {MIN_PASSWORD_LENGTH} characters"
        )

    sources_in = cfg.get("backup_sources")
    if not isinstance(sources_in, list) or not sources_in:
        raise AnsibleFilterError("backup_sources: a non-empty list of directories to back up is required")
    sources: list[str] = []
    for i, src in enumerate(sources_in):
        path = _abs_path(src, f"backup_sources[{i}]")
        if path == "/":
            raise AnsibleFilterError(f"backup_sources[{i}]: '/' is not allowed; name the data directories")
        if path in sources:
            raise AnsibleFilterError(f"backup_sources[{i}]: {path} is listed twice")
        sources.append(path)

    repo_dir = cfg.get("backup_repository_dir", "mi-harden-restic")
    if not isinstance(repo_dir, str) or not _REPO_DIR_RE.match(repo_dir) or repo_dir in (".", ".."):
        raise AnsibleFilterError(f"backup_repository_dir: {repo_dir!r} must be one directory name (letters, digits, . _ -)")

    min_targets = _count(cfg.get("backup_min_targets", 2), "backup_min_targets", 2)
    targets_in = cfg.get("backup_targets")
    if not isinstance(targets_in, list):
        raise AnsibleFilterError("backup_targets: must be a list of {name, mount} backup disks")
    if len(targets_in) < min_targets:
        raise AnsibleFilterError(
            f"backup_targets: {len(targets_in)} backup disk(s) named, the policy requires at least "
            f"{min_targets} distinct disks (GZ-C1b: important data in several copies on different disks)"
        )
    targets: list[dict[str, Any]] = []
    for i, entry in enumerate(targets_in):
        where = _target_where(i, entry)
        if not isinstance(entry, dict):
            raise AnsibleFilterError(f"{where}: must be a mapping with name and mount, got {type(entry).__name__}")
        unknown = sorted(set(entry) - TARGET_FIELDS)
        if unknown:
            raise AnsibleFilterError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(TARGET_FIELDS)}")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise AnsibleFilterError(f"{where}.name: {name!r} must be a short lower-case name (a-z, 0-9, _ -)")
        mount = _abs_path(entry.get("mount"), f"{where}.mount")
        if mount == "/":
            raise AnsibleFilterError(f"{where}.mount: '/' is the system disk, not a backup disk")
        for j, src in enumerate(sources):
            if _inside(mount, src):
                raise AnsibleFilterError(
                    f"{where}.mount: {mount} is inside the data being backed up (backup_sources[{j}] {src})"
                )
            if _inside(src, mount):
                raise AnsibleFilterError(
                    f"{where}.mount: {mount} contains the data being backed up (backup_sources[{j}] {src})"
                )
        for k, other in enumerate(targets):
            if other["name"] == name:
                raise AnsibleFilterError(f"{where}.name: {name!r} is already used by backup_targets[{k}]")
            if _inside(mount, other["mount"]) or _inside(other["mount"], mount):
                raise AnsibleFilterError(
                    f"{where}.mount: {mount} overlaps backup_targets[{k}] ({other['name']!r}) {other['mount']}"
                )
        targets.append({"name": name, "mount": mount, "repository": f"{mount}/{repo_dir}"})

    keep = {
        period: _count(cfg.get(f"backup_keep_{period}", default), f"backup_keep_{period}")
        for period, default in (("daily", 7), ("weekly", 4), ("monthly", 12))
    }
    if keep["daily"] < 1:
        raise AnsibleFilterError("backup_keep_daily: must keep at least 1 daily snapshot")

    unmounted = cfg.get("backup_unmounted_target", "fail")
    if unmounted not in UNMOUNTED_ACTIONS:
        raise AnsibleFilterError(f"backup_unmounted_target: {unmounted!r} is not one of {list(UNMOUNTED_ACTIONS)}")

    exclude = cfg.get("backup_exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, str) and e and not _UNSAFE_PATH_RE.search(e) for e in exclude):
        raise AnsibleFilterError("backup_exclude: must be a list of restic exclude patterns (one line each)")

    return {
        "sources": sources,
        "targets": targets,
        "repository_dir": repo_dir,
        "keep": keep,
        "exclude": list(exclude),
        "unmounted_target": unmounted,
        "schedule": _calendar(cfg.get("backup_schedule", "daily"), "backup_schedule"),
        "check_schedule": _calendar(cfg.get("backup_check_schedule", "weekly"), "backup_check_schedule"),
        "check_read_data_parts": _count(cfg.get("backup_check_read_data_parts", 0), "backup_check_read_data_parts"),
        "max_age_hours": _count(cfg.get("backup_max_age_hours", 26), "backup_max_age_hours", 1),
        "check_max_age_days": _count(cfg.get("backup_check_max_age_days", 8), "backup_check_max_age_days", 1),
        "restore_drill_max_age_days": _count(
            cfg.get("backup_restore_drill_max_age_days", 92), "backup_restore_drill_max_age_days", 1
        ),
    }


# ----------------------------------------------------------------------------- host state
def _dev_text(dev: int) -> str:
    """st_dev as major:minor, as findmnt and lsblk print it."""
    return f"{os.major(dev)}:{os.minor(dev)}"


def _stats_by_path(results: Any) -> dict[str, dict[str, Any]]:
    """{path: stat} from the results of an ansible.builtin.stat loop (item = path)."""
    out: dict[str, dict[str, Any]] = {}
    for res in results or []:
        item = res.get("item")
        path = item if isinstance(item, str) else (item or {}).get("mount")
        stat = res.get("stat") or {}
        if path:
            out[posixpath.normpath(path)] = stat
    return out


def _mounts(findmnt: Any) -> dict[str, dict[str, Any]]:
    """{mount point: entry} from `findmnt --json --list` output (text or parsed)."""
    if isinstance(findmnt, str):
        findmnt = json.loads(findmnt) if findmnt.strip() else {}
    entries = (findmnt or {}).get("filesystems", [])
    return {e["target"]: e for e in entries if isinstance(e, dict) and e.get("target")}


def _disks_of(source: str, blockdevs: Any) -> list[str]:
    """The whole disks under a block device (partition -> disk, LVM/RAID -> every disk).

    ``blockdevs`` is `lsblk --json --list -o NAME,PATH,TYPE,PKNAME` (text or parsed); a
    device lsblk does not know (tmpfs, overlay, NFS) has no disks.
    """
    if isinstance(blockdevs, str):
        blockdevs = json.loads(blockdevs) if blockdevs.strip() else {}
    rows = [r for r in (blockdevs or {}).get("blockdevices", []) if isinstance(r, dict)]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row.get("name", ""), []).append(row)
    device = source.split("[", 1)[0]
    start = [r.get("name") for r in rows if device in (r.get("path"), "/dev/" + str(r.get("name")))]
    disks: set[str] = set()
    seen: set[str] = set()
    todo = [n for n in start if n]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for row in by_name.get(name, []):
            if row.get("type") in ("disk", "loop") and not row.get("pkname"):
                disks.add(name)
            if row.get("pkname"):
                todo.append(row["pkname"])
    return sorted(disks)


def _containing_mount(path: str, mounts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    best = ""
    for target in mounts:
        if _inside(path, target) and len(target) > len(best):
            best = target
    return mounts.get(best, {})


def mi_backup_host_state(
    policy: dict[str, Any], target_stats: Any, source_stats: Any, findmnt: Any, blockdevs: Any = None
) -> dict[str, Any]:
    """Join the checked policy with the host's mounts; refuse targets that share a device.

    A target is *mounted* when its mount point is a mount point (findmnt). Unmounted targets
    are returned as missing (the caller fails or reports drift, per policy). Mounted targets
    must not share a filesystem (``st_dev``) or a whole disk (lsblk) with another target or
    with an existing source; that raises AnsibleFilterError naming both.
    """
    tstats = _stats_by_path(target_stats)
    sstats = _stats_by_path(source_stats)
    mounts = _mounts(findmnt)

    def disks(path: str) -> list[str]:
        source = str(_containing_mount(path, mounts).get("source") or "")
        return _disks_of(source, blockdevs) if source.startswith("/dev/") else []

    data = []
    for j, src in enumerate(policy["sources"]):
        st = sstats.get(src, {})
        if st.get("exists"):
            data.append({"where": f"backup_sources[{j}] {src}", "dev": st.get("dev"), "disks": disks(src)})

    targets: list[dict[str, Any]] = []
    for i, tgt in enumerate(policy["targets"]):
        st = tstats.get(tgt["mount"], {})
        entry = mounts.get(tgt["mount"])
        mounted = bool(entry) and bool(st.get("exists")) and bool(st.get("isdir", True))
        state = dict(tgt, mounted=mounted, dev=None, device="", source="", fstype="", disks=[])
        if mounted:
            state.update(
                dev=st.get("dev"),
                device=_dev_text(st["dev"]) if isinstance(st.get("dev"), int) else "",
                source=str(entry.get("source") or ""),
                fstype=str(entry.get("fstype") or ""),
                disks=disks(tgt["mount"]),
            )
            where = f"backup_targets[{i}] ({tgt['name']!r}) at {tgt['mount']}"
            others = [
                {"where": f"backup_targets[{k}] ({o['name']!r}) at {o['mount']}", "dev": o["dev"], "disks": o["disks"]}
                for k, o in enumerate(targets) if o["mounted"]
            ]
            for other, kind in [(o, "another backup disk") for o in others] + [(d, "the data it backs up") for d in data]:
                if state["dev"] is not None and state["dev"] == other["dev"]:
                    raise AnsibleFilterError(
                        f"{where}: is on the same filesystem (device {state['device']}, {state['source']}) as "
                        f"{kind}, {other['where']}: each copy must be on its own disk (GZ-C1b)"
                    )
                shared = sorted(set(state["disks"]) & set(other["disks"]))
                if shared:
                    raise AnsibleFilterError(
                        f"{where}: is on the same disk ({', '.join(shared)}) as {kind}, {other['where']}: "
                        "each copy must be on its own disk (GZ-C1b)"
                    )
        targets.append(state)
    return {
        "targets": targets,
        "mounted": [t["name"] for t in targets if t["mounted"]],
        "missing": [t["name"] for t in targets if not t["mounted"]],
    }


# ----------------------------------------------------------------------------- drift
def _load(text: Any) -> tuple[dict[str, Any] | None, str]:
    """(document, problem) from a status file's text; (None, '') when there is none."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None, ""
    if isinstance(text, dict):
        return text, ""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return None, f"unreadable ({exc})"
    return (doc, "") if isinstance(doc, dict) else (None, "unreadable (not a JSON object)")


def _when(value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 time ('...Z' or with an offset), or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()


def _age(hours: float) -> str:
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def mi_backup_drift(
    state: dict[str, Any],
    status: Any = None,
    check: Any = None,
    drill: Any = None,
    max_age_hours: int = 26,
    check_max_age_days: int = 8,
    drill_max_age_days: int = 92,
    now: float | None = None,
) -> dict[str, list[str]]:
    """Drift of MI-BAK-01 and MI-BAK-02 from the host state and the status files.

    ``status``, ``check`` and ``drill`` are the texts (or parsed documents) of
    backup.json, backup-check.json and backup-restore-drill.json under /var/lib/mi-harden.
    An empty list means the control was inspected and found fine.
    """
    now = time.time() if now is None else float(now)
    bak: list[str] = []
    drl: list[str] = []
    status_doc, status_problem = _load(status)
    check_doc, check_problem = _load(check)
    drill_doc, drill_problem = _load(drill)
    for name, problem in (("backup.json", status_problem), ("backup-check.json", check_problem)):
        if problem:
            bak.append(f"status file {name} is {problem}")
    per_disk = (status_doc or {}).get("targets") or {}
    checks = (check_doc or {}).get("targets") or {}
    for tgt in state.get("targets", []):
        name = tgt["name"]
        if not tgt.get("mounted"):
            bak.append(f"backup disk {name!r} is not mounted at {tgt['mount']} (disk missing?)")
        rec = per_disk.get(name) or {}
        success = _when(rec.get("last_success"))
        if success is None:
            bak.append(f"no successful backup to {name!r} on record")
        else:
            hours = (now - success) / 3600
            if hours > max_age_hours:
                bak.append(
                    f"last good backup on {name!r} is {_age(hours)} old ({rec['last_success']}); "
                    f"the policy allows {max_age_hours} h"
                )
        if rec and rec.get("last_ok") is False:
            bak.append(f"the last backup run failed on {name!r} at {rec.get('last_attempt')}: {rec.get('last_error')}")
        chk = checks.get(name) or {}
        checked = _when(chk.get("last_check"))
        if chk and chk.get("ok") is False:
            bak.append(f"integrity check (restic check) of {name!r} failed at {chk.get('last_check')}: {chk.get('error')}")
        elif checked is not None and (now - checked) / 86400 > check_max_age_days:
            bak.append(
                f"last integrity check of {name!r} is {_age((now - checked) / 3600)} old; "
                f"the policy allows {check_max_age_days} days"
            )

    if drill_problem:
        drl.append(f"restore drill evidence backup-restore-drill.json is {drill_problem}")
    elif drill_doc is None:
        drl.append("no restore drill on record: run playbooks/restore_drill.yml")
    else:
        when = _when(drill_doc.get("time"))
        if when is None or (now - when) / 86400 > drill_max_age_days:
            drl.append(
                f"last restore drill ({drill_doc.get('time')}) is older than the "
                f"{drill_max_age_days} days the policy allows"
            )
        results = drill_doc.get("targets") or {}
        for tgt in state.get("targets", []):
            res = results.get(tgt["name"])
            if res is None:
                drl.append(f"backup disk {tgt['name']!r} was not part of the last restore drill")
            elif not res.get("ok"):
                drl.append(f"restore drill from {tgt['name']!r} failed at {drill_doc.get('time')}: {res.get('error')}")
    return {"MI-BAK-01": bak, "MI-BAK-02": drl}


class FilterModule:
    """mi-harden backup filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_backup_policy": mi_backup_policy,
            "mi_backup_host_state": mi_backup_host_state,
            "mi_backup_drift": mi_backup_drift,
        }
