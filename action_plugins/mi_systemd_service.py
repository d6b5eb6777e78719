"""Action mi_systemd_service: ansible.builtin.systemd_service without a module run when the unit is in order.

The roles keep about twenty units enabled, started, stopped or masked; every audit and every
converge asks systemd_service about each, and each answer is a whole module run on the
terminal (Python, ``ansible.module_utils``, about 0.35 s of wall time, docs/BENCHMARKS.md,
"Session 13") around two or three ``systemctl`` calls. This action makes the module's own
calls (``daemon-reload`` when asked, needed and not in check mode, ``show``, ``is-enabled``) in
one shell command over the connection, with ``become`` as the task asks, and parses them with
the module's own parser; for a unit with an init script as well, the same test of its SysV
start links as the module's (``/etc/rc?.d/S??NAME``). When the unit already is as the task asks, the result is the
module's, key for key (``name``, ``changed: false``, ``status``, ``enabled``, ``state``); a task
with only a name gets the unit's status, as from the module.

``daemon_reload: true`` reloads systemd, as the module does, unless systemd says when it last
loaded its units and nothing daemon-reload reads has changed since: no file or directory of
its unit path (less its own transient, ``.control`` and generator output directories), of its
configuration, of its generators or of the files Debian's generators read (``NEEDS_RELOAD``,
``RELOAD_INPUTS``). Change times decide (a package's file keeps an old modification time), on
both clocks. A converge of a terminal in order reloads nothing (each reload is 0.1 to 0.2 s);
a systemd without ``UnitsLoadTimestamp`` (bullseye's 247; bookworm's 252 and trixie's 257 have
it) always reloads.

One option is the action's own, never passed to the module: ``mi_missing: skip`` skips the
task when the unit is not installed (systemd does not know it and there is no init script),
where the module fails with "Could not find the requested service". The roles set it on a unit
their package or unit-file task installs: in check mode on a fresh host that task has already
reported the drift, and the unit is not there to ask about. The default, ``fail``, is the
module's answer. With ``skip``, a task the module must carry out (``restarted``, ``reloaded``,
``no_block``, ``force``: a handler) first has the action ask systemd whether the unit is
installed, then goes to the module; globs, other scopes and ``daemon_reexec`` go to the module
and fail on a missing unit whatever ``mi_missing`` says.

Anything else runs ansible.builtin.systemd_service unchanged: a unit that must change (the
module changes it, or says it would in check mode), ``restarted``/``reloaded``, a unit not
found or with a load error, user or global scope, ``force``,
``no_block``, ``daemon_reexec``, async, a name with a glob or a quote, any unexpected output.
Options: ansible.builtin.systemd_service's.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, Mapping

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.modules.systemd_service import is_deactivating_service, is_running_service, parse_systemctl_show, \
    request_was_ignored

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)  # ansible loads plugins by path: mi_one_command.py is beside this file
from mi_one_command import OneCommandAction, stderr_said  # noqa: E402

DOCUMENTATION = r"""
name: mi_systemd_service
short_description: ansible.builtin.systemd_service without a module run when the unit is in order
description:
  - The options and results of M(ansible.builtin.systemd_service). The module's own systemctl
    calls run in one shell command; when the unit is as the task asks, the result is the module's.
  - C(daemon_reload) reloads only when a unit file, drop-in or other input of daemon-reload has
    changed since systemd last loaded its units (always on a systemd without UnitsLoadTimestamp).
  - A unit that must change, restarted/reloaded, a missing unit, SysV links, another scope,
    force, no_block, daemon_reexec and async run M(ansible.builtin.systemd_service) unchanged.
options:
  mi_missing:
    description:
      - C(skip) skips the task when the unit is not installed (systemd does not know it and
        there is no init script); C(fail), the default, fails as the module does. Never passed
        to the module.
    type: str
    choices: [fail, skip]
    default: fail
"""

_KNOWN = frozenset(("name", "service", "unit", "state", "enabled", "masked", "daemon_reload", "daemon-reload",
                    "daemon_reexec", "daemon-reexec", "scope", "no_block", "force", "mi_missing"))
MISSING = ("fail", "skip")  # the values of mi_missing
_MARK = "@mi-systemd"
# systemctl is-enabled -l answers that the module reads as "not enabled" (ansible.modules.systemd_service)
_NOT_ENABLED = ("enabled-runtime", "indirect", "alias")


def _flag(args: Mapping[str, Any], *names: str) -> bool | None:
    """The boolean option under any of ``names`` (None when unset); TypeError when not a boolean."""
    values = [args[n] for n in names if args.get(n) is not None]
    return boolean(values[0], strict=True) if values else None


def request(args: Mapping[str, Any], check_mode: bool) -> dict[str, Any] | None:
    """What the module would do, as {unit, state, enabled, masked, reload, skip_missing, probe},
    or None when only the module can answer. With ``mi_missing: skip``, a task that only the
    module can carry out (restarted, reloaded, no_block, force) on a plain unit name is a
    ``probe``: the action asks whether the unit is installed, then leaves the task to the
    module."""
    if any(v is not None for k, v in args.items() if k not in _KNOWN):
        return None
    names = [args[n] for n in ("name", "service", "unit") if args.get(n) is not None]
    if len(names) != 1 or not isinstance(names[0], str):
        return None
    unit = names[0]
    if not unit or any(c in unit for c in "*?['\\\n") or unit.startswith("-"):
        return None  # globs (the module refuses them), quotes (its own quoting), options
    try:
        enabled, masked = _flag(args, "enabled"), _flag(args, "masked")
        reload = (_flag(args, "daemon_reload", "daemon-reload") or False) and not check_mode
        reexec = _flag(args, "daemon_reexec", "daemon-reexec")
        acts = _flag(args, "no_block") or _flag(args, "force")
    except TypeError:
        return None  # the module says what is wrong with it
    if reexec or args.get("scope", "system") != "system":
        return None
    state = args.get("state")
    skip_missing = args.get("mi_missing") == "skip"
    if acts or state not in (None, "started", "stopped"):
        # only the module carries these out (restarted and reloaded always act)
        if skip_missing and state in (None, "started", "stopped", "restarted", "reloaded"):
            return {"unit": unit, "state": None, "enabled": None, "masked": None, "reload": reload,
                    "skip_missing": True, "probe": True}
        return None
    return {"unit": unit, "state": state, "enabled": enabled, "masked": masked, "reload": reload,
            "skip_missing": skip_missing, "probe": False}


# The inputs of ``systemctl daemon-reload`` besides the unit search path (the manager's
# UnitPath, less the directories systemd itself writes: transient units, set-property's
# .control, the generators' output): the manager's configuration, the generators and the
# files Debian's generators read (fstab, crypttab, veritytab, integritytab, SysV scripts and
# their rc?.d links, rc.local).
RELOAD_INPUTS = ("/etc/systemd/system.conf", "/etc/systemd/system.conf.d", "/run/systemd/system.conf.d",
                 "/usr/local/lib/systemd/system.conf.d", "/usr/lib/systemd/system.conf.d",
                 "/lib/systemd/system.conf.d", "/etc/systemd/system-generators", "/run/systemd/system-generators",
                 "/usr/local/lib/systemd/system-generators", "/usr/lib/systemd/system-generators",
                 "/lib/systemd/system-generators", "/etc/fstab", "/etc/crypttab", "/etc/veritytab",
                 "/etc/integritytab", "/etc/init.d", "/etc/rc0.d", "/etc/rc1.d", "/etc/rc2.d", "/etc/rc3.d",
                 "/etc/rc4.d", "/etc/rc5.d", "/etc/rc6.d", "/etc/rcS.d", "/etc/rc.local")

# mi_needs_reload (sh): true unless systemd says when it last loaded its units
# (UnitsLoadTimestamp, not in bullseye's systemd 247; before any reload, UnitsLoadStartTimestamp of
# its start) and no input of daemon-reload has changed since (a file or directory whose ctime, which
# no package or copy can set back, is later). The time of the last load is taken on both clocks,
# the wall clock and the monotonic one counted back from now (/proc/uptime, never behind
# systemd's monotonic clock), and the earlier one is used, less a second: a clock stepped
# back or forward after the load cannot hide a later change. Anything it cannot read (an older
# systemd, a value it does not know) is a reload, as the module always does. About 15 ms
# against 0.1 to 0.2 s for the reload. systemd's own NeedDaemonReload is not asked: reading it
# for every loaded unit (about 170) costs as much as the reload, and systemd 252 answers "no"
# for a unit with a new drop-in directory (it looks in its cache of the unit path).
NEEDS_RELOAD = r"""mi_needs_reload() {
  mi_seen= mi_real= mi_mono= mi_sreal= mi_smono= mi_paths=
  while IFS='=' read -r mi_k mi_v; do
    case $mi_k in
      UnitPath) mi_paths=$mi_v ;;
      UnitsLoadTimestamp) mi_seen=1; mi_real=$mi_v ;;
      UnitsLoadTimestampMonotonic) mi_mono=$mi_v ;;
      UnitsLoadStartTimestamp) mi_sreal=$mi_v ;;
      UnitsLoadStartTimestampMonotonic) mi_smono=$mi_v ;;
    esac
  done <<MI_EOF
$(systemctl show --timestamp=unix -p UnitPath -p UnitsLoadTimestamp -p UnitsLoadTimestampMonotonic \
    -p UnitsLoadStartTimestamp -p UnitsLoadStartTimestampMonotonic 2>/dev/null)
MI_EOF
  [ -n "$mi_seen" ] || return 0
  if [ -z "$mi_real" ] || [ "$mi_mono" = 0 ]; then mi_real=$mi_sreal; mi_mono=$mi_smono; fi
  case $mi_real in @*) mi_real=${mi_real#@} ;; *) return 0 ;; esac
  case "$mi_real.$mi_mono" in *[!0-9.]*|.*|*.) return 0 ;; esac
  read -r mi_up mi_idle </proc/uptime || return 0
  case $mi_up in *[!0-9.]*|*.*.*|.*|*.) return 0 ;; *.??) ;; *) return 0 ;; esac
  mi_now=$(date +%s) || return 0
  mi_cut=$(( mi_now - (${mi_up%.*}${mi_up#*.} - mi_mono / 10000 + 99) / 100 ))
  [ "$mi_real" -lt "$mi_cut" ] && mi_cut=$mi_real
  mi_cut=$(( mi_cut - 1 ))
  set --
  for mi_d in $mi_paths; do
    case $mi_d in */transient|*.control|*/generator|*/generator.*) ;; *) set -- "$@" "$mi_d" ;; esac
  done
  [ -n "$(find "$@" """ + " ".join(RELOAD_INPUTS) + r""" -newerct "@$mi_cut" -print -quit 2>/dev/null)" ]
}"""


def command(req: Mapping[str, Any]) -> str:
    """One shell command: the module's systemctl calls for ``req``, each output after a marker
    line and followed by its exit status."""
    unit = shlex.quote(req["unit"])
    steps = []
    if req["reload"]:
        steps.append(f"{NEEDS_RELOAD}\nif mi_needs_reload; then systemctl daemon-reload >/dev/null 2>&1 || "
                     f"{{ echo '{_MARK}-reload-failed'; exit 0; }}; fi")
    steps.append(f"echo '{_MARK} show'; systemctl show {unit}; echo \"{_MARK}-rc $?\"")
    if req["masked"] is not None:
        steps.append(f"echo '{_MARK} is-enabled'; systemctl is-enabled {unit}; echo \"{_MARK}-rc $?\"")
    if req["enabled"] is not None:
        steps.append(f"echo '{_MARK} is-enabled-l'; systemctl is-enabled {unit} -l; echo \"{_MARK}-rc $?\"")
    steps.append(f"if [ -e /etc/init.d/{unit} ]; then echo '{_MARK} initd'; fi")
    if req["enabled"] is not None:
        # module_utils.service.sysv_is_enabled: any start link in a runlevel directory
        steps.append(f"for l in /etc/rc?.d/S??{unit}; do if [ -e \"$l\" ] || [ -L \"$l\" ]; then "
                     f"echo '{_MARK} sysv'; fi; break; done")
    return "; ".join(steps) + "; exit 0"


def sections(stdout: str) -> dict[str, tuple[str, int]] | None:
    """{call: (its output, its exit status)} from ``command``'s output, or None when unreadable."""
    found: dict[str, tuple[str, int]] = {}
    name, lines = None, []
    for line in stdout.split("\n"):
        line = line.rstrip("\r")
        if line.startswith(f"{_MARK} "):
            if name is not None:
                return None
            name, lines = line[len(_MARK) + 1:], []
            if name in ("initd", "sysv"):
                found[name], name = ("", 0), None
        elif line.startswith(f"{_MARK}-rc "):
            rc = line[len(_MARK) + 4:]
            if name is None or not rc.isdigit():
                return None
            found[name], name = ("\n".join(lines) + "\n" if lines else "", int(rc)), None
        elif line.startswith(_MARK):
            return None  # the daemon-reload failed: the module says how
        elif name is not None:
            lines.append(line)
    return None if name is not None or "show" not in found else found


def judge(req: Mapping[str, Any], stdout: str, stderr: str) -> dict[str, Any] | None:
    """The module's result when the unit already is as asked, a skip when it is not installed
    and the task says ``mi_missing: skip``, else None (the module must run)."""
    found = sections(stdout)
    if found is None:
        return None
    out, rc = found["show"]
    if rc != 0 or not out or request_was_ignored(out):
        return None
    status = parse_systemctl_show(out.split("\n"))
    if req.get("skip_missing") and status.get("LoadState") == "not-found" and "initd" not in found:
        # the module's "found" is false (no unit, no init script); is-enabled's complaint on
        # stderr says the same
        return {"name": req["unit"], "changed": False, "skipped": True,
                "skip_reason": f"the unit {req['unit']} is not installed (mi_missing: skip)"}
    if req.get("probe") or stderr_said(stderr):
        return None  # the module carries the task out; systemctl's stderr: the module reads it
    if status.get("LoadState", "not-found") == "not-found" or (status["LoadState"] != "masked" and "LoadError" in status):
        return None
    result: dict[str, Any] = {"name": req["unit"], "changed": False, "status": status}
    if req["masked"] is not None:
        if "is-enabled" not in found or (found["is-enabled"][0].strip() == "masked") != req["masked"]:
            return None
    if req["enabled"] is not None:
        if "is-enabled-l" not in found:
            return None
        out_l, rc_l = found["is-enabled-l"]
        if rc_l == 0:
            enabled = out_l.rstrip() not in _NOT_ENABLED
        else:
            # the module: an init script as well, systemctl not saying "disabled", and a SysV
            # start link make it enabled (only for exit status 1; anything else is disabled)
            enabled = rc_l == 1 and "initd" in found and not out_l.strip().endswith("disabled") and "sysv" in found
        if enabled != req["enabled"]:
            return None
        result["enabled"] = enabled
    if req["state"] is not None:
        if "ActiveState" not in status:
            return None
        if req["state"] == "started" and not is_running_service(status):
            return None
        if req["state"] == "stopped" and (is_running_service(status) or is_deactivating_service(status)):
            return None
        result["state"] = req["state"]
    return result


class ActionModule(OneCommandAction):
    """ansible.builtin.systemd_service answered by systemctl over the connection when nothing changes."""

    MODULE = "ansible.legacy.systemd_service"
    BATCH = True  # a loop is read in one round trip (mi_one_command)
    OWN_OPTIONS = {"mi_missing": MISSING}

    def mi_request(self, args, task_vars):  # noqa: D102
        return request(args, bool(self._task.check_mode))

    def mi_command(self, req, task_vars):  # noqa: D102
        return command(req)

    def mi_answer(self, req, out):  # noqa: D102
        return judge(req, out.get("stdout", ""), out.get("stderr", ""))
