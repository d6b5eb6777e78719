"""Action mi_group: ansible.builtin.group without a module run when the group is already there.

The roles make sure a few groups exist (accounts: the administrators' group and the group
pam_faillock never locks; remote_access: the administrators' group again). On every converge
and audit after the first, each is a whole module run on the terminal (Python and
``ansible.module_utils``, about 0.25 s, docs/BENCHMARKS.md, "Session 14") to learn that the
group exists. This action asks ``getent group NAME`` in one shell command (with ``become`` as
the task asks) and, when the group exists with the gid asked for (or none was asked), returns
the module's own result for that case: ``name``, ``state``, ``system`` (as given), ``gid``,
``changed: false``. The module looks the group up the same way (``grp.getgrnam``: the same
name service switch as getent) and changes nothing then.

Anything else runs ansible.builtin.group unchanged: a missing group (to create it, or to
report it in check mode), another gid, ``state: absent``, ``local``, ``force``,
``non_unique``, async, or an answer it cannot read. Options: ansible.builtin.group's.
"""

from __future__ import annotations

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
name: mi_group
short_description: ansible.builtin.group without a module run when the group is already there
description:
  - The options and results of M(ansible.builtin.group). A group that exists with the
    requested gid (or any, when none is given) is read with getent in one shell command.
  - Anything else (a group to create, to change or to remove, O(local), O(force),
    O(non_unique), async) runs M(ansible.builtin.group) unchanged.
"""

_MARK = "@mi-group-rc"
# options that matter only when the module creates the group, and their defaults
_CREATE_ONLY = ("gid_min", "gid_max")
_OFF = ("force", "local", "non_unique")


def request(args: Mapping[str, Any]) -> dict[str, Any] | None:
    """{name, system, gid} of a task that asks only that a group exist, or None."""
    known = {"name", "state", "system", "gid", *_CREATE_ONLY, *_OFF}
    if set(args) - known:
        return None
    name = args.get("name")
    if not isinstance(name, str) or not name or any(c in name for c in ":\n\x00"):
        return None
    if args.get("state", "present") not in ("present", None):
        return None
    try:
        system = boolean(args["system"], strict=True) if args.get("system") is not None else False
        if any(args.get(k) is not None and boolean(args[k], strict=True) for k in _OFF):
            return None
        gid = int(args["gid"]) if args.get("gid") is not None else None
    except (TypeError, ValueError):
        return None
    return {"name": name, "system": system, "gid": gid}


def command(req: Mapping[str, Any]) -> str:
    """The group's entry, then getent's exit status on a last line of its own."""
    return f"getent group {shlex.quote(req['name'])} </dev/null; printf '\\n{_MARK} %s\\n' \"$?\"; exit 0"


def judge(req: Mapping[str, Any], stdout: str) -> dict[str, Any] | None:
    """The module's result for a group that is already as asked, or None."""
    cut = stdout.rfind(f"\n{_MARK} ")
    if cut < 0 or stdout[cut + len(_MARK) + 2:].strip() != "0" or "\r" in stdout:
        return None
    lines = stdout[:cut].splitlines()
    if len(lines) != 1:
        return None
    record = lines[0].split(":")
    if len(record) != 4 or record[0] != req["name"] or not record[2].isdigit():
        return None
    gid = int(record[2])
    if req["gid"] is not None and req["gid"] != gid:
        return None  # groupmod would change it
    return {"changed": False, "name": req["name"], "state": "present", "system": req["system"], "gid": gid}


class ActionModule(OneCommandAction):
    """ansible.builtin.group answered by getent when the group is already there."""

    MODULE = "ansible.legacy.group"
    BATCH = True  # a loop is read in one round trip (mi_one_command)

    def mi_request(self, args, task_vars):  # noqa: D102
        return request(args)

    def mi_command(self, req, task_vars):  # noqa: D102
        return command(req)

    def mi_answer(self, req, out):  # noqa: D102
        return judge(req, out.get("stdout", ""))
