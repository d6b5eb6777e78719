"""Action mi_file: ansible.builtin.file, answered from one shell ``stat`` when nothing would change.

The roles' ``file`` tasks make sure directories exist with an owner, group and mode, and that
retired files are gone. On a compliant terminal (every audit, every second converge) each
loop item is a whole Python start on the terminal (about 0.3 s, docs/BENCHMARKS.md,
"Session 7") to learn what one ``stat`` shows. This action asks GNU ``stat`` in one shell
command (no Python) and returns the file module's own result when it is certain:

- ``state: directory`` (or ``file``) with an octal ``mode``, an ``owner`` and a ``group``
  (each optional): the path is a directory (a regular file) that is not a link, with exactly
  those attributes; with no ``state``, an existing directory is judged as ``directory`` and
  anything else as ``file``, as the module takes the path's own state;
- ``state: absent``: the path does not exist.

Anything else (a link, a symbolic mode, ``recurse``, ``src``, times, SELinux or chattr
attributes, an owner without a name, any output that is not exactly as expected, async)
runs ansible.builtin.file as it is. Options: ansible.builtin.file's.
"""

from __future__ import annotations

import stat as st
import sys
from pathlib import Path
from typing import Any, Mapping

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)  # ansible loads plugins by path: mi_one_command.py is beside this file
from mi_one_command import OneCommandAction  # noqa: E402
import mi_copy as _COPY  # noqa: E402  (its shell stat, its judgement of a stat and its reading of a mode)

_mode = _COPY._mode

DOCUMENTATION = r"""
name: mi_file
short_description: ansible.builtin.file, answered from one shell stat when nothing would change
description:
  - The options and results of M(ansible.builtin.file). When O(state) is C(directory), C(file)
    or C(absent) and the path already is as asked (type, owner, group, octal mode), the result
    is given from one C(stat) command without running the module.
  - Every other case runs M(ansible.builtin.file) unchanged.
"""

# file-module arguments this shortcut judges; any other one set -> the module runs
_JUDGED = frozenset(("path", "dest", "name", "state", "mode", "owner", "group", "follow", "force",
                     "unsafe_writes"))


def _path(args: Mapping[str, Any]) -> str | None:
    value = args.get("path", args.get("dest", args.get("name")))
    return value if isinstance(value, str) and value.startswith("/") and "\n" not in value else None


def query_command(args: Mapping[str, Any]) -> str | None:
    """The shell command whose output ``judge`` reads, or None when the module must run."""
    if any(v is not None for k, v in args.items() if k not in _JUDGED):
        return None
    state = args.get("state") or "file"
    path = _path(args)
    if path is None or state not in ("directory", "file", "absent"):
        return None
    if args.get("mode") is not None and _mode(args["mode"]) is None:
        return None  # a symbolic mode: only the module can judge it
    return _COPY.stat_command(path, checksum=False)


def judge(args: Mapping[str, Any], output: str, diff: bool = False) -> dict[str, Any] | None:
    """The file module's result from ``query_command``'s output, or None when it is not certain."""
    path = _path(args)
    state = args.get("state") or "file"
    lines = output.splitlines()
    if path is None or not lines or lines[-1] != "@end" or len(lines) != 2:
        return None
    if state == "absent":
        return {"changed": False, "path": path, "state": "absent"} if lines[0] == "@absent" else None
    fields = _COPY.stat_fields(lines[0])
    if fields is None:
        return None
    mode, uid, gid, size, owner, group = fields
    stat = {"exists": True, "path": path, "mode": "%04o" % st.S_IMODE(mode), "isreg": st.S_ISREG(mode),
            "isdir": st.S_ISDIR(mode), "islnk": st.S_ISLNK(mode), "uid": uid, "gid": gid, "size": size,
            "pw_name": owner, "gr_name": group}
    if not args.get("state") and stat["isdir"]:
        state = "directory"  # no state: the module takes the path's own (an existing directory's)
    # the file module's answer from a stat: mi_copy's judgement, for a directory as for a file
    return _COPY.unchanged_file_result(
        stat, {**{k: v for k, v in args.items() if k != "name"}, "path": path, "state": state}, diff)


class ActionModule(OneCommandAction):
    """ansible.builtin.file with its answer taken from a shell stat when that answer is certain."""

    MODULE = "ansible.legacy.file"
    BATCH = True  # a loop is read in one round trip (mi_one_command)

    def mi_request(self, args, task_vars):  # noqa: D102
        return args

    def mi_command(self, req, task_vars):  # noqa: D102
        return query_command(req)

    def mi_answer(self, req, out):  # noqa: D102
        return judge(req, out.get("stdout", ""), bool(self._task.diff))
