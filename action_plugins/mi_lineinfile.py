"""Action mi_lineinfile: ansible.builtin.lineinfile without a module run when the line is there.

Two settings of /etc/login.defs are kept with lineinfile (accounts: the password aging
values; base_os: UMASK): Debian's package owns the file, so the roles edit lines rather than
template it. After the first converge every run is a module run per line on the terminal
(Python and ``ansible.module_utils``, about 0.3 s each, docs/BENCHMARKS.md, "Session 14") that
finds the line already there. This action reads the file in one shell command (``base64 -w0``,
with ``become`` as the task asks) and runs the module's own search on it in the controller:
the last line the ``regexp`` matches (or, without a match, a line equal to ``line``) must
already be ``line``. Then it returns the module's result for that case: ``changed: false``,
``msg: ""``, ``backup: ""`` and the module's two diffs (the content before and after, which
are the same, in diff mode; the file attributes' headers).

Anything else runs ansible.builtin.lineinfile unchanged: a line to add or replace,
``state: absent``, ``insertafter``/``insertbefore``, ``backrefs``, ``search_string``,
``firstmatch``, ``create``, ``backup``, ``validate``, owner, group, mode or other attributes, a
missing or unreadable file, a file that is not UTF-8, async, or an answer it cannot read.
Options: ansible.builtin.lineinfile's.
"""

from __future__ import annotations

import base64
import binascii
import io
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
name: mi_lineinfile
short_description: ansible.builtin.lineinfile without a module run when the line is there
description:
  - The options and results of M(ansible.builtin.lineinfile). When O(path) is a readable
    file whose last line matching O(regexp) (or, without a match, a line equal to O(line)) is
    already O(line), the file is read in one shell command and the module's result for an
    unchanged file is returned.
  - Anything else runs M(ansible.builtin.lineinfile) unchanged.
"""

_MARK = "@mi-lineinfile"
_PATH = ("path", "dest", "destfile", "name")


def request(args: Mapping[str, Any]) -> dict[str, Any] | None:
    """{path, regexp, line} of a task that only asks that a line be present, or None."""
    if any(v is not None for k, v in args.items() if k not in (*_PATH, "regexp", "line", "state")):
        return None
    paths = [args[k] for k in _PATH if args.get(k) is not None]
    if len(paths) != 1 or not isinstance(paths[0], str) or args.get("state", "present") not in ("present", None):
        return None
    path, regexp, line = paths[0], args.get("regexp"), args.get("line")
    if not path.startswith("/") or any(c in path for c in "$\n\x00"):
        return None
    if not isinstance(line, str) or (regexp is not None and not isinstance(regexp, str)):
        return None
    try:
        compiled = re.compile(regexp.encode()) if regexp is not None else None
    except re.error:
        return None  # the module's own error
    return {"path": path, "regexp": compiled, "line": line}


def command(path: str) -> str:
    """The file in base64 between two marker lines, when it is a readable regular file."""
    p = shlex.quote(path)
    return f"if [ -f {p} ] && [ -r {p} ]; then echo '{_MARK}'; base64 -w0 < {p} && echo && echo '{_MARK}-end'; fi; exit 0"


def content_of(stdout: str) -> bytes | None:
    """The file's bytes from ``command``'s output, or None."""
    lines = stdout.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 3 or lines[0] != _MARK or lines[2] != f"{_MARK}-end" or len(lines[1]) % 4:
        return None
    try:
        return base64.b64decode(lines[1], validate=True)
    except (binascii.Error, ValueError):
        return None


def line_is_there(b_lines: list[bytes], regexp: re.Pattern | None, line: str) -> bool:
    """ansible.modules.lineinfile's ``present`` without insert options, reduced to its answer:
    the line it would write is already at the index it would write it to (os.linesep: the
    terminal is Linux)."""
    b_line = line.encode()
    index, match = -1, None
    if regexp is not None:
        for lineno, b_cur_line in enumerate(b_lines):
            found = regexp.search(b_cur_line)
            if found:
                index, match = lineno, found
    if not match:
        for lineno, b_cur_line in enumerate(b_lines):
            if b_line == b_cur_line.rstrip(b"\r\n"):
                index = lineno
    if index == -1:
        return False
    b_new_line = b_line if b_line.endswith(b"\n") else b_line + b"\n"
    return b_lines[index] == b_new_line


def judge(req: Mapping[str, Any], stdout: str, diff: bool) -> dict[str, Any] | None:
    """The module's result for a file that already has the line, or None."""
    content = content_of(stdout)
    if content is None:
        return None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not line_is_there(io.BytesIO(content).readlines(), req["regexp"], req["line"]):  # as the module reads
        return None
    path = req["path"]
    body = {"before": text if diff else "", "after": text if diff else "",
            "before_header": f"{path} (content)", "after_header": f"{path} (content)"}
    attrs = {"before_header": f"{path} (file attributes)", "after_header": f"{path} (file attributes)"}
    return {"changed": False, "msg": "", "backup": "", "diff": [body, attrs]}


class ActionModule(OneCommandAction):
    """ansible.builtin.lineinfile answered by reading the file when the line is there."""

    MODULE = "ansible.legacy.lineinfile"
    BATCH = True  # a loop is read in one round trip (mi_one_command)

    def mi_request(self, args, task_vars):  # noqa: D102
        return request(args)

    def mi_command(self, req, task_vars):  # noqa: D102
        return command(req["path"])

    def mi_answer(self, req, out):  # noqa: D102
        return judge(req, out.get("stdout", ""), bool(self._task.diff))
