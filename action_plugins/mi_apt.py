"""Action mi_apt: ansible.builtin.apt, answered from dpkg when the packages are already as asked.

The apt module starts Python on the terminal, imports python3-apt and opens the package
cache: about 0.7 s per task, whatever it finds (docs/BENCHMARKS.md, "Session 7"), and every
role has an "X is installed" task that an audit or the converge of a compliant terminal
runs for nothing. This action asks dpkg first, in one shell command without Python
(``dpkg-query``, apt's list of packages installed automatically and the time of the last
``apt-get update``), and
returns the apt module's answer itself when that answer is certain:

- ``state: present``: every package is installed and, outside check mode, none is marked as
  installed automatically (the module would mark it manual);
- ``state: absent``: no package is installed, and with ``purge`` none has configuration
  files left;
- and the module would not update the package cache: check mode (the module never does),
  or neither ``update_cache`` nor ``cache_valid_time``, or a cache younger than
  ``cache_valid_time``.

Anything else (versions, wildcards, architectures, ``latest``, ``upgrade``, ``deb``,
``autoremove``, any option not listed below, async, a failed query) runs
ansible.builtin.apt as it is. Options: ansible.builtin.apt's.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping

from ansible.module_utils.parsing.convert_bool import boolean

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)  # ansible loads plugins by path: mi_one_command.py is beside this file
from mi_one_command import OneCommandAction  # noqa: E402

DOCUMENTATION = r"""
name: mi_apt
short_description: ansible.builtin.apt, answered from dpkg when the packages are already as asked
description:
  - The options and results of M(ansible.builtin.apt). When O(state) is C(present) or C(absent),
    the packages are plain names that dpkg shows already as asked, and the package cache would
    not be updated, the result is given from one dpkg query without running the module.
  - Every other case runs M(ansible.builtin.apt) unchanged.
"""

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")  # a Debian package name, no version/arch/glob
# options the shortcut judges; any other one set -> the module runs
_JUDGED = frozenset(("name", "pkg", "package", "state", "update_cache", "update-cache", "cache_valid_time",
                     "install_recommends", "install-recommends", "purge", "lock_timeout"))
_STAMPS = ("/var/lib/apt/periodic/update-success-stamp", "/var/lib/apt/lists")  # the module's order


def _names(args: Mapping[str, Any]) -> list[str] | None:
    """The package names asked for, or None when one of them is more than a plain name."""
    value = args.get("name", args.get("pkg", args.get("package")))
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not value:
        return None
    names = [str(v).strip() for v in value]
    return names if all(NAME_RE.match(n) for n in names) else None


def query_command(args: Mapping[str, Any]) -> str | None:
    """The shell command whose output ``judge`` reads, or None when the module must run."""
    if any(v is not None for k, v in args.items() if k not in _JUDGED):
        return None
    if args.get("state", "present") not in ("present", "absent"):
        return None
    if not str(args.get("cache_valid_time") or 0).isdigit():
        return None  # the module will say what is wrong with it
    names = _names(args)
    if names is None:
        return None
    quoted = " ".join(shlex.quote(n) for n in names)
    stamps = " || ".join(f"stat -c '@stamp %Y' {s} 2>/dev/null" for s in _STAMPS)
    return (f"LC_ALL=C dpkg-query -W -f='@pkg ${{Package}} ${{db:Status-Status}}\\n' -- {quoted} 2>/dev/null; "
            # apt-mark showauto would build apt's whole cache (0.7 s): its file is read instead
            "awk '/^Package:/ {p = $2} /^Auto-Installed: 1/ {print \"@auto \" p}' /var/lib/apt/extended_states 2>/dev/null; "
            f"echo \"@now $(date +%s)\"; {stamps}; echo @end")


def judge(args: Mapping[str, Any], output: str, check_mode: bool) -> dict[str, Any] | None:
    """The apt module's result from ``query_command``'s output, or None when it is not certain."""
    names = _names(args)
    if names is None:
        return None  # query_command sends these to the module
    status: dict[str, str] = {}
    auto: set[str] = set()
    now = stamp = None
    complete = False
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word == "@pkg" and len(rest.split()) == 2:
            pkg, state = rest.split()
            # the same name twice (one per architecture) in two states: not certain
            status[pkg] = state if status.get(pkg, state) == state else "ambiguous"
        elif word == "@auto":
            auto.add(rest.strip())
        elif word == "@now" and rest.strip().isdigit():
            now = int(rest)
        elif word == "@stamp" and rest.strip().isdigit():
            stamp = int(rest)
        elif word == "@end":
            complete = True
    if not complete or now is None or stamp is None:
        return None
    valid = int(args.get("cache_valid_time") or 0)
    refresh = boolean(args.get("update_cache", args.get("update-cache", False)), strict=False) or valid > 0
    stale = refresh and stamp + valid < now
    if stale and not check_mode:
        return None  # the module would update the cache
    if args.get("state", "present") == "present":
        if any(status.get(n) != "installed" for n in names):
            return None
        if auto & set(names) and not check_mode:
            return None  # the module would mark them installed manually
        return {"changed": False, "cache_updated": stale, "cache_update_time": stamp}
    gone = ("not-installed",) if boolean(args.get("purge", False), strict=False) else ("not-installed", "config-files")
    if any(status.get(n, "not-installed") not in gone for n in names):
        return None
    return {"changed": False}


class ActionModule(OneCommandAction):
    """ansible.builtin.apt with its answer taken from dpkg when that answer is certain."""

    MODULE = "ansible.legacy.apt"
    SUDOABLE = False
    IN_DATA = None

    def mi_request(self, args, task_vars):  # noqa: D102
        return args

    def mi_command(self, req, task_vars):  # noqa: D102
        return query_command(req)

    def mi_answer(self, req, out):  # noqa: D102
        return judge(req, out.get("stdout", ""), bool(self._task.check_mode))
