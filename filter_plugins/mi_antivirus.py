"""Antivirus filters: the role's policy check and the health read by the audit.

``mi_antivirus_settings`` checks the antivirus policy of one host before anything changes
and fails with a message naming the field. ``mi_av_signature_drift`` and
``mi_av_scan_drift`` turn what the role read from the host (signature files, the last
scheduled scan, the quarantine) into the drift lists of the ``antivirus_drift`` fact.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import posixpath
import re
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_antivirus
short_description: Antivirus policy check and signature/scan health for mi-harden
description:
  - C(mi_antivirus_settings) validates the antivirus policy (signature mode, mirror, pushed
    files, scan schedule, paths, ages) and returns it normalised.
  - C(mi_av_push_sources) checks the controller files push mode sends (every pattern matched,
    only database files, no two with the same name).
  - C(mi_av_signature_build_time) reads the build time of a ClamAV CVD/CLD/CUD header.
  - C(mi_av_signature_drift) lists what is wrong with the signature database (missing, too old).
  - C(mi_av_scan_drift) lists what is wrong with the scheduled scans (never ran, too old,
    failed, detections in quarantine awaiting review).
"""

EXAMPLES = r"""
settings: "{{ {'antivirus_signature_mode': antivirus_signature_mode, ...} | mi_antivirus_settings }}"
drift: "{{ signature_files | mi_av_signature_drift(headers, now, antivirus_signature_max_age_days) }}"
"""

RETURN = r"""
_value:
  description: the validated settings (dict), a build time (int, epoch seconds), or a list of drift messages.
"""

SIGNATURE_MODES = ("mirror", "push")
# Database files clamd loads (see the ClamAV signature documentation); the audit reads the
# age of these, and push mode refuses anything else.
SIGNATURE_SUFFIXES = (
    ".cvd", ".cld", ".cud", ".hdb", ".hsb", ".hdu", ".hsu", ".mdb", ".msb", ".mdu", ".msu",
    ".ndb", ".ndu", ".ldb", ".ldu", ".idb", ".cdb", ".crb", ".cbc", ".pdb", ".gdb", ".wdb",
    ".ftm", ".yar", ".yara", ".fp", ".sfp", ".ign", ".ign2", ".info", ".cat",
)
CONTAINER_SUFFIXES = (".cvd", ".cld", ".cud")
# Characters that would break the one-path-per-line files and unit files the role writes.
_UNSAFE_PATH_RE = re.compile(r"[\s\"'\\%$`]")
_SCHEDULE_RE = re.compile(r"^[A-Za-z0-9_*:/,.~ +-]+$")

SETTINGS_FIELDS = (
    "antivirus_signature_mode", "antivirus_private_mirrors", "antivirus_mirror_custom_urls",
    "antivirus_push_files", "antivirus_signature_max_age_days", "antivirus_scan_paths",
    "antivirus_scan_schedule", "antivirus_scan_max_age_hours", "antivirus_onaccess_paths",
    "antivirus_quarantine_dir", "antivirus_database_dir",
)


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AnsibleFilterError(f"{field}: {value!r} must be a whole number of 1 or more")
    return value


def _abs_path(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise AnsibleFilterError(f"{field}: {value!r} must be an absolute path")
    if not value.startswith("/"):
        raise AnsibleFilterError(f"{field}: {value!r} is not an absolute path (must start with /)")
    if _UNSAFE_PATH_RE.search(value):
        raise AnsibleFilterError(f"{field}: {value!r} contains a space, quote, backslash, % or $ (not allowed)")
    normal = posixpath.normpath(value)
    if normal == "/":
        raise AnsibleFilterError(f"{field}: '/' is not allowed (scan the data and home directories, not the whole system)")
    return normal


def _path_list(value: Any, field: str, allow_empty: bool) -> list[str]:
    if not isinstance(value, list):
        raise AnsibleFilterError(f"{field}: must be a list of absolute paths, got {type(value).__name__}")
    if not value and not allow_empty:
        raise AnsibleFilterError(f"{field}: at least one directory is required")
    paths: list[str] = []
    for i, item in enumerate(value):
        path = _abs_path(item, f"{field}[{i}]")
        if path not in paths:
            paths.append(path)
    return paths


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _urls(value: Any, field: str) -> list[str]:
    if not isinstance(value, list):
        raise AnsibleFilterError(f"{field}: must be a list of http(s) URLs, got {type(value).__name__}")
    for i, url in enumerate(value):
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or _UNSAFE_PATH_RE.search(url):
            raise AnsibleFilterError(f"{field}[{i}]: {url!r} is not an http:// or https:// URL of the site's mirror")
    return list(value)


def check_schedule(value: Any, field: str = "antivirus_scan_schedule") -> str:
    """Shape check of a systemd OnCalendar expression; the role then asks systemd-analyze."""
    if not isinstance(value, str) or not value.strip() or not _SCHEDULE_RE.match(value.strip()):
        raise AnsibleFilterError(
            f"{field}: {value!r} is not a systemd calendar expression (e.g. 'daily' or '*-*-* 12:30:00')"
        )
    return value.strip()


def mi_antivirus_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Validate the antivirus policy of one host and return it normalised.

    Cross-field rules: mirror mode needs at least one private mirror; push mode needs at
    least one file to push, each a ClamAV database file; the quarantine is outside every
    scanned and watched directory (else a scan would rescan its own quarantine).
    """
    if not isinstance(settings, dict):
        raise AnsibleFilterError("antivirus settings: must be a mapping")
    missing = [f for f in SETTINGS_FIELDS if f not in settings]
    if missing:
        raise AnsibleFilterError(f"antivirus settings: missing {missing}")
    mode = settings["antivirus_signature_mode"]
    if mode not in SIGNATURE_MODES:
        raise AnsibleFilterError(
            f"antivirus_signature_mode: {mode!r} is not one of {list(SIGNATURE_MODES)} "
            "(mirror: freshclam from the site's PrivateMirror; push: files sent by the controller)"
        )
    mirrors = _urls(settings["antivirus_private_mirrors"], "antivirus_private_mirrors")
    custom = _urls(settings["antivirus_mirror_custom_urls"], "antivirus_mirror_custom_urls")
    if mode == "mirror" and not mirrors:
        raise AnsibleFilterError("antivirus_private_mirrors: mirror mode needs at least one URL of the site's ClamAV mirror")
    push = settings["antivirus_push_files"]
    if not isinstance(push, list) or not all(isinstance(p, str) and p for p in push):
        raise AnsibleFilterError("antivirus_push_files: must be a list of controller paths or globs")
    if mode == "push" and not push:
        raise AnsibleFilterError(
            "antivirus_push_files: push mode needs at least one signature file on the controller "
            "(e.g. ['/srv/clamav/*.cvd'] or the lab database ['lab-signatures/*'])"
        )
    for i, pattern in enumerate(push):
        name = posixpath.basename(pattern)
        if not name.endswith("*") and not name.lower().endswith(SIGNATURE_SUFFIXES):
            raise AnsibleFilterError(
                f"antivirus_push_files[{i}]: {pattern!r} is not a ClamAV database file (.cvd, .cld, .hdb, .ndb, ...)"
            )
    scan_paths = _path_list(settings["antivirus_scan_paths"], "antivirus_scan_paths", allow_empty=False)
    onaccess = _path_list(settings["antivirus_onaccess_paths"], "antivirus_onaccess_paths", allow_empty=True)
    quarantine = _abs_path(settings["antivirus_quarantine_dir"], "antivirus_quarantine_dir")
    database = _abs_path(settings["antivirus_database_dir"], "antivirus_database_dir")
    for field, paths in (("antivirus_scan_paths", scan_paths), ("antivirus_onaccess_paths", onaccess)):
        for i, path in enumerate(paths):
            if _inside(quarantine, path) or _inside(path, quarantine):
                raise AnsibleFilterError(
                    f"antivirus_quarantine_dir: {quarantine!r} overlaps {field}[{i}] {path!r}; "
                    "the quarantine must be outside every scanned directory"
                )
    return {
        "mode": mode,
        "private_mirrors": mirrors,
        "custom_urls": custom,
        "push_files": list(push),
        "signature_max_age_days": _positive_int(settings["antivirus_signature_max_age_days"], "antivirus_signature_max_age_days"),
        "scan_paths": scan_paths,
        "scan_schedule": check_schedule(settings["antivirus_scan_schedule"]),
        "scan_max_age_hours": _positive_int(settings["antivirus_scan_max_age_hours"], "antivirus_scan_max_age_hours"),
        "onaccess_paths": onaccess,
        "quarantine_dir": quarantine,
        "database_dir": database,
    }


def mi_av_push_sources(patterns: list[str], matches: list[str]) -> list[dict[str, str]]:
    """The files push mode copies: ``matches`` (the controller's fileglob results for all of
    ``patterns``) checked so that every pattern matched something, every file is a ClamAV
    database, and no two files land on the same name in the database directory.

    Returns ``[{'src': controller path, 'name': file name on the terminal}]`` sorted by name.
    """
    matches = sorted(set(matches or []))
    for i, pattern in enumerate(patterns or []):
        wanted = pattern if pattern.startswith("/") else "*/" + pattern
        if not any(fnmatch.fnmatchcase(m, wanted) for m in matches):
            raise AnsibleFilterError(
                f"antivirus_push_files[{i}]: {pattern!r} matches no file on the controller "
                "(relative paths are looked up in the antivirus role's files/ directory)"
            )
    sources: dict[str, str] = {}
    for path in matches:
        name = posixpath.basename(path)
        if not name.lower().endswith(SIGNATURE_SUFFIXES):
            raise AnsibleFilterError(f"antivirus_push_files: {path!r} is not a ClamAV database file (.cvd, .cld, .hdb, .ndb, ...)")
        if name in sources:
            raise AnsibleFilterError(f"antivirus_push_files: {path!r} and {sources[name]!r} would both be pushed as {name!r}")
        sources[name] = path
    return [{"src": src, "name": name} for name, src in sorted(sources.items())]


def mi_av_signature_build_time(header: str) -> int | None:
    """Build time (epoch seconds) from the 512-byte header of a .cvd/.cld/.cud file.

    The header is ``ClamAV-VDB:<time>:<version>:<sigs>:<flevel>:<md5>:<dsig>:<builder>:<stime>``;
    ``stime`` is the build time in seconds. Returns None when the header is not one.
    """
    if not isinstance(header, str) or not header.startswith("ClamAV-VDB:"):
        return None
    fields = header.strip().split(":")
    if len(fields) < 9:
        return None
    stime = fields[-1].strip()  # the last field; the padding after it is stripped
    return int(stime) if stime.isdigit() else None


def _age(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    return f"{days} d {rest // 3600} h"


def _when(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def mi_av_signature_drift(files: list[dict[str, Any]], headers: dict[str, str], now: Any, max_age_days: int) -> list[str]:
    """What is wrong with the signature database; empty when checked and fine.

    ``files`` are ``find`` results (path, mtime) of the database directory; ``headers``
    maps a .cvd/.cld/.cud path to its header text. A database is as fresh as its newest
    file: the build time in the header for official containers, the mtime otherwise
    (the time the controller pushed it or freshclam fetched it).
    """
    now = float(now)
    sigs = [f for f in files or [] if str(f.get("path", "")).lower().endswith(SIGNATURE_SUFFIXES)]
    if not sigs:
        return ["no signature database in the database directory: clamd has nothing to scan with"]
    newest_path, newest = "", 0.0
    for f in sigs:
        built = mi_av_signature_build_time((headers or {}).get(f["path"], "")) if f["path"].lower().endswith(CONTAINER_SUFFIXES) else None
        when = float(built if built is not None else f.get("mtime", 0))
        if when > newest:
            newest_path, newest = f["path"], when
    if now - newest > int(max_age_days) * 86400:
        return [
            f"signatures are {_age(now - newest)} old (newest: {newest_path}, {_when(newest)}); "
            f"the policy allows {int(max_age_days)} d (antivirus_signature_max_age_days)"
        ]
    return []


def mi_av_scan_drift(last_scan: Any, now: Any, max_age_hours: int, quarantined: int = 0) -> list[str]:
    """What is wrong with the scheduled scans; empty when checked and fine.

    ``last_scan`` is the JSON the scan unit writes (or None when it never ran);
    ``quarantined`` the number of files in quarantine awaiting review.
    """
    now = float(now)
    drift: list[str] = []
    if not isinstance(last_scan, dict) or "finished" not in last_scan:
        drift.append("no scheduled scan has completed yet")
    else:
        finished = float(last_scan["finished"])
        if now - finished > int(max_age_hours) * 3600:
            drift.append(
                f"last scheduled scan finished {_age(now - finished)} ago ({_when(finished)}); "
                f"the policy allows {int(max_age_hours)} h (antivirus_scan_max_age_hours)"
            )
        if last_scan.get("result") == "error":
            drift.append(f"last scheduled scan ({_when(finished)}) failed: {last_scan.get('error') or 'see journalctl -u mi-av-scan'}")
    if quarantined:
        drift.append(f"{int(quarantined)} file(s) in quarantine awaiting review")
    return drift


class FilterModule:
    """mi-harden antivirus filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_antivirus_settings": mi_antivirus_settings,
            "mi_av_push_sources": mi_av_push_sources,
            "mi_av_signature_build_time": mi_av_signature_build_time,
            "mi_av_signature_drift": mi_av_signature_drift,
            "mi_av_scan_drift": mi_av_scan_drift,
        }
