"""Action mi_slurp: ansible.builtin.slurp without a module run on the terminal.

The roles read the small state files their timers write (the last scan, backup, integrity
check, pull run, the applied ruleset) and a few system files: about ten slurp runs per audit,
each a whole module run (Python and ``ansible.module_utils`` on the terminal) to read a file.
This action reads it with ``base64 -w0`` in one shell command (with ``become`` as the task
asks) and returns the module's result: ``content`` (base64, the same alphabet and padding as
Python's ``base64.b64encode``), ``source`` and ``encoding: base64``.

A path that is not absolute or that the module would expand (``~``, ``$``), a file that is
missing, unreadable or a directory (the module's own error, with its exception), async or
any unexpected output run ansible.builtin.slurp unchanged. Options: ansible.builtin.slurp's.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)  # ansible loads plugins by path: mi_one_command.py is beside this file
from mi_one_command import OneCommandAction  # noqa: E402


DOCUMENTATION = r"""
name: mi_slurp
short_description: ansible.builtin.slurp without a module run on the terminal
description:
  - The options and results of M(ansible.builtin.slurp). A readable file at an absolute path
    is read with C(base64 -w0) in one shell command; the result is the module's.
  - A missing or unreadable file, a directory, a path with C(~) or C($) and async run
    M(ansible.builtin.slurp) unchanged (its own error message).
"""

_MARK = "@mi-slurp"
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def source_of(args: Mapping[str, Any]) -> str | None:
    """The path the module would read, or None when only the module can say."""
    if any(v is not None for k, v in args.items() if k not in ("src", "path")):
        return None
    paths = [args[k] for k in ("src", "path") if args.get(k) is not None]
    if len(paths) != 1 or not isinstance(paths[0], str):
        return None
    path = paths[0]
    if not path.startswith("/") or "$" in path or "\x00" in path or "\n" in path:
        return None
    return path


def command(path: str) -> str:
    """The file in base64 between two marker lines, when it is a readable non-directory."""
    p = shlex.quote(path)
    return (f"if [ -r {p} ] && [ ! -d {p} ]; then echo '{_MARK}'; base64 -w0 < {p} && echo && echo '{_MARK}-end'; "
            "fi; exit 0")


def judge(path: str, stdout: str) -> dict[str, Any] | None:
    """The module's result from ``command``'s output, or None when the module must answer."""
    lines = [line.rstrip("\r") for line in stdout.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 3 or lines[0] != _MARK or lines[2] != f"{_MARK}-end" or not _BASE64.match(lines[1]) \
            or len(lines[1]) % 4:
        return None
    return {"changed": False, "content": lines[1], "source": path, "encoding": "base64"}


class ActionModule(OneCommandAction):
    """ansible.builtin.slurp answered by base64 over the connection."""

    MODULE = "ansible.legacy.slurp"
    BATCH = True  # a loop is read in one round trip (mi_one_command)

    def mi_request(self, args, task_vars):  # noqa: D102
        return source_of(args)

    def mi_command(self, req, task_vars):  # noqa: D102
        return command(req)

    def mi_answer(self, req, out):  # noqa: D102
        return judge(req, out.get("stdout", ""))
