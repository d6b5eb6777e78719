"""Change-control filters: input checks and drift rules of the roles audit_trail,
file_integrity, time_sync and updates (MI-LOG-01, MI-FIM-01, MI-TIME-01, MI-UPD-01), and the
drift rule of pull_mode's scheduled run (MI-AUDIT-01).

Every check raises AnsibleFilterError naming the field, so a wrong policy stops the run in
the first play of site.yml, before any host changes. The drift rules are pure functions of
the state a role read from the host (and the time), so they are unit-tested here.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_change
short_description: Input checks and drift rules of the change-control roles of mi-harden
description:
  - C(mi_abs_paths) checks a list of absolute paths (audit rules and AIDE selections).
  - C(mi_ntp_servers) checks a non-empty list of NTP server names or addresses.
  - C(mi_mirror_url) checks an http(s) Debian mirror URL and strips a trailing slash.
  - C(mi_calendar_text) pre-checks a systemd calendar expression (one line, not empty);
    the role then asks C(systemd-analyze calendar) on the host.
  - C(mi_integrity_drift), C(mi_pull_drift) and C(mi_update_drift) turn the state read from a host into the
    list of drift messages of the audit (empty = checked and fine).
"""

EXAMPLES = r"""
dirs: "{{ audit_trail_data_dirs | mi_abs_paths('audit_trail_data_dirs') }}"
servers: "{{ time_sync_servers | mi_ntp_servers('time_sync_servers') }}"
mirror: "{{ updates_mirror | mi_mirror_url('updates_mirror') }}"
drift: "{{ state | mi_integrity_drift(now_epoch, 36) }}"
"""

RETURN = r"""
_value:
  description: the checked (normalised) input, or a list of drift messages.
"""

_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$", re.I)
_UNSAFE_PATH_RE = re.compile(r'[\s"\'\\]')


def mi_abs_path(value: Any, field: str) -> str:
    """Check one absolute path without spaces or quotes; return it normalised."""
    if not isinstance(value, str) or not value:
        raise AnsibleFilterError(f"{field}: must be an absolute path, got {value!r}")
    if not value.startswith("/"):
        raise AnsibleFilterError(f"{field}: {value!r} is not an absolute path (it must start with /)")
    if _UNSAFE_PATH_RE.search(value):
        raise AnsibleFilterError(f"{field}: {value!r} contains a space, quote or backslash, which audit rules cannot hold")
    norm = posixpath.normpath(value)
    if norm == "/" or norm.startswith("//"):
        raise AnsibleFilterError(f"{field}: {value!r} names the root directory; name the directory to protect")
    return norm


def mi_abs_paths(value: Any, field: str, allow_empty: bool = True) -> list[str]:
    """Check a list of absolute paths; return them normalised, duplicates removed, in order."""
    if value is None:
        value = []
    if not isinstance(value, list):
        raise AnsibleFilterError(f"{field}: must be a list of absolute paths, got {type(value).__name__}")
    if not value and not allow_empty:
        raise AnsibleFilterError(f"{field}: must name at least one absolute path")
    paths: list[str] = []
    for i, item in enumerate(value):
        path = mi_abs_path(item, f"{field}[{i}]")
        if path not in paths:
            paths.append(path)
    return paths


def mi_ntp_servers(value: Any, field: str) -> list[str]:
    """Check a non-empty list of NTP servers (host names or IP addresses), without duplicates."""
    if not isinstance(value, list):
        raise AnsibleFilterError(f"{field}: must be a list of NTP servers (names or addresses), got {type(value).__name__}")
    if not value:
        raise AnsibleFilterError(
            f"{field}: is empty; the policy must name the site's internal NTP servers (mi_ntp_servers)"
        )
    servers: list[str] = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(item, str) or not item.strip():
            raise AnsibleFilterError(f"{where}: must be a host name or IP address, got {item!r}")
        name = item.strip()
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if not _HOSTNAME_RE.match(name) or name.replace(".", "").isdigit():
                raise AnsibleFilterError(f"{where}: {item!r} is neither an IP address nor a host name") from None
        if name.lower() in (s.lower() for s in servers):
            raise AnsibleFilterError(f"{where}: {item!r} is listed twice")
        servers.append(name)
    return servers


def mi_mirror_url(value: Any, field: str) -> str:
    """Check an http(s) mirror URL with a host; return it without a trailing slash."""
    if not isinstance(value, str) or not value.strip():
        raise AnsibleFilterError(
            f"{field}: is empty; the policy must name the site's package mirror (mi_package_mirror), "
            "e.g. http://10.20.0.5:3142/debian"
        )
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AnsibleFilterError(f"{field}: {value!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment or re.search(r"\s", url):
        raise AnsibleFilterError(f"{field}: {value!r} must not hold spaces, a query or a fragment")
    return url.rstrip("/")


def mi_security_mirror(mirror: Any, security: Any = "") -> str:
    """The security suite's mirror: ``security`` when given (checked), else ``mirror``
    with its last path element ``debian`` replaced by ``debian-security``."""
    if security:
        return mi_mirror_url(security, "updates_security_mirror")
    base = mi_mirror_url(mirror, "updates_mirror")
    if not base.endswith("/debian"):
        raise AnsibleFilterError(
            f"updates_security_mirror: required, because updates_mirror {base!r} does not end in "
            "/debian (the security suite's address cannot be derived from it)"
        )
    return base + "-security"


def mi_calendar_text(value: Any, field: str) -> str:
    """Pre-check a systemd calendar expression: one non-empty line of text.

    Whether systemd understands it is asked on the host (systemd-analyze calendar).
    """
    if not isinstance(value, str) or not value.strip():
        raise AnsibleFilterError(f"{field}: must be a systemd calendar expression (e.g. '*-*-* 03:30'), got {value!r}")
    if "\n" in value or "\r" in value or '"' in value or "'" in value:
        raise AnsibleFilterError(f"{field}: {value!r} must be one line without quotes")
    return value.strip()


def _age_hours(then: Any, now: float) -> float | None:
    try:
        return (float(now) - float(then)) / 3600.0
    except (TypeError, ValueError):
        return None


def _ran(state: Any) -> bool:
    """A scheduled job's state file was read and records a run (has its ``epoch``)."""
    return isinstance(state, dict) and "epoch" in state


def _run_age_drift(state: dict[str, Any], now: float, max_age_hours: float, what: str) -> list[str]:
    """The drift every scheduled job's recorded run shares: no valid time, or too old.

    ``what`` names the run in the messages ("integrity check", "pull run").
    """
    age = _age_hours(state.get("epoch"), now)
    if age is None:
        return [f"last {what} has no valid time: {state.get('epoch')!r}"]
    if age > float(max_age_hours):
        return [f"last {what} is {age:.0f} h old (policy: at most {max_age_hours} h)"]
    return []


def mi_integrity_drift(state: Any, now: float, max_age_hours: float) -> list[str]:
    """Drift of MI-FIM-01 from the last integrity check's state (file_integrity.json).

    ``state`` is the parsed JSON the check writes (None when there is none): ``epoch`` of
    the check, ``result`` (baseline|clean|changes|error), ``added``/``removed``/``changed``
    path lists. Drift: no check recorded, a failed check, changes not yet accepted, or a
    check older than ``max_age_hours``.
    """
    if not _ran(state):
        return ["no integrity check recorded yet (/var/lib/mi-harden/file_integrity.json missing or unreadable)"]
    drift = _run_age_drift(state, now, max_age_hours, "integrity check")
    if state.get("result") == "error":
        drift.append(f"last integrity check failed (aide exit {state.get('exit_code')})")
    for kind in ("added", "removed", "changed"):
        paths = state.get(kind) or []
        if paths:
            shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
            drift.append(f"{len(paths)} file(s) {kind} since the accepted baseline: {shown}")
    return drift


def mi_pull_drift(state: Any, now: float, max_age_hours: float) -> list[str]:
    """Drift of MI-AUDIT-01 (role pull_mode) from the state the pull job wrote (pull_mode.json).

    ``state``: ``epoch`` of the run, ``pull_rc`` (ansible-pull: fetching the repository, then
    the converge), ``audit_rc`` (the audit; null while the audit of this run is under way),
    ``commit``, ``verified`` (false: the commit's signature was refused, so nothing of it
    ran; absent when the signature check is off). Drift: never ran, a refused signature, a
    step failed, or the run is older than ``max_age_hours``.
    """
    if not _ran(state):
        return ["the scheduled pull has not run yet (/var/lib/mi-harden/pull_mode.json missing or unreadable)"]
    drift = _run_age_drift(state, now, max_age_hours, "pull run")
    if state.get("verified") is False:  # nothing of the commit ran: its steps' exit codes say nothing more
        drift.append(f"last pull run: commit {state.get('commit') or '(unknown)'} is not signed by a key of "
                     "pull_mode_signing_keys; it was neither converged nor audited")
        return drift
    for key, what in (("pull_rc", "fetching the policy from the git server or the converge"),
                      ("audit_rc", "the audit")):
        rc = state.get(key)
        if rc not in (None, 0):
            drift.append(f"last pull run: {what} failed (exit {rc})")
    return drift


def mi_update_drift(
    pending: Any, upgrade_epoch: Any, lists_epoch: Any, now: float, max_pending: int, max_age_days: float
) -> list[str]:
    """Drift of MI-UPD-01: pending security updates and the age of the last updates.

    ``pending`` is the number of pending security updates (None if unknown),
    ``upgrade_epoch`` the time of the last successful unattended upgrade run and
    ``lists_epoch`` of the last successful package list refresh (None: never).
    """
    drift: list[str] = []
    for what, epoch in (("unattended upgrade run", upgrade_epoch), ("package list refresh", lists_epoch)):
        age = _age_hours(epoch, now) if epoch is not None else None
        if age is None:
            drift.append(f"no successful {what} recorded yet")
        elif age / 24.0 > float(max_age_days):
            drift.append(f"last successful {what} is {age / 24.0:.1f} days old (policy: at most {max_age_days} days)")
    if pending is None:
        drift.append("the number of pending security updates could not be read")
    elif int(pending) > int(max_pending):
        drift.append(f"{int(pending)} security update(s) pending (policy: at most {max_pending})")
    return drift


class FilterModule:
    """mi-harden change-control filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_abs_path": mi_abs_path,
            "mi_abs_paths": mi_abs_paths,
            "mi_ntp_servers": mi_ntp_servers,
            "mi_mirror_url": mi_mirror_url,
            "mi_security_mirror": mi_security_mirror,
            "mi_calendar_text": mi_calendar_text,
            "mi_integrity_drift": mi_integrity_drift,
            "mi_pull_drift": mi_pull_drift,
            "mi_update_drift": mi_update_drift,
        }
