"""Action mi_command: ansible.builtin.command for read-only commands, without Python on the terminal.

The roles read the terminal's state with commands (``getent``, ``findmnt``, ``lsblk``,
``sysctl``, ``systemd-analyze``...): about 30 runs in every audit and converge, each a whole
Python start on the terminal (the command module, about 0.3 s, docs/BENCHMARKS.md,
"Session 7") around a command that itself takes milliseconds. This action runs the same
argument vector in one shell command over the connection (with ``become`` as the task asks)
and returns the command module's own result: ``cmd``, ``stdout``, ``stderr`` (trailing
newlines stripped; ``stdout_lines``, ``stderr_lines``), ``rc``, ``start``, ``end``, ``delta``, ``msg``, ``changed`` (true, as the
module says; the roles' ``changed_when: false`` decides), and ``failed`` with
"non-zero return code".

It is for commands that change nothing: when anything in the answer is not as expected, the
command runs again through the module. One exception: a command with ``creates`` (a literal
absolute path), which may change the terminal, is never run by this action. When the path
exists (``test -e`` or ``-L``: glob's ``lexists`` for a literal path) the answer is the
module's "not run" result, in check mode too; when it does not, the module runs the command
(or reports it, in check mode).

It runs the module instead, unchanged, for check mode (the module skips), async, ``chdir``,
``creates`` with a pattern or a relative path, ``removes``, ``stdin``, ``executable``,
``strip_empty_ends: false``, a task ``environment``, and an argument the module would expand
(``$`` or a leading ``~``, unless ``expand_argument_vars: false``: then the module passes them as
they are, and so does this action, which is how a read-only ``bash -c`` script with variables is
answered). Options: ansible.builtin.command's, without the free form (``cmd:`` or ``argv:``).
"""

from __future__ import annotations

import datetime
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)  # ansible loads plugins by path: mi_one_command.py is beside this file
from mi_one_command import SSH_CLOSED, OneCommandAction  # noqa: E402

DOCUMENTATION = r"""
name: mi_command
short_description: ansible.builtin.command for read-only commands, without Python on the terminal
description:
  - The options and results of M(ansible.builtin.command), given O(cmd) or O(argv). The
    argument vector runs in one shell command over the connection instead of through the
    command module; the result is the module's.
  - Check mode, async, O(chdir), O(removes), O(stdin), a task environment and
    arguments the module would expand run M(ansible.builtin.command) unchanged.
  - A command with O(creates) (a literal absolute path) is answered only when the path
    exists, with the module's "not run" result; otherwise the module runs it.
  - Only for commands that change nothing (an unexpected answer runs the command again
    through the module).
"""

_JUDGED = frozenset(("cmd", "argv", "strip_empty_ends", "expand_argument_vars", "stdin_add_newline"))
_START, _END = "@mi-command-start", "@mi-command-end"
_DATE = "date '+%Y-%m-%d %H:%M:%S.%6N'"


def argv_of(args: Mapping[str, Any]) -> list[str] | None:
    """The argument vector the command module would run, or None when only the module can say."""
    if any(v is not None for k, v in args.items() if k not in _JUDGED):
        return None
    expand = args.get("expand_argument_vars", True)
    if args.get("strip_empty_ends", True) is not True or expand not in (True, False):
        return None
    if (args.get("cmd") is None) == (args.get("argv") is None):
        return None
    if args.get("cmd") is not None:
        if not isinstance(args["cmd"], str):
            return None
        argv = shlex.split(args["cmd"])
    else:
        if not isinstance(args["argv"], list) or not all(isinstance(a, (str, int)) for a in args["argv"]):
            return None
        argv = [str(a) for a in args["argv"]]
    if not argv or any("\x00" in a for a in argv):
        return None
    if expand and any("$" in a or a.startswith("~") for a in argv):
        return None  # the module would expand them (expand_argument_vars: false passes them as they are)
    return argv


_EXISTS, _ABSENT = "@mi-command-exists", "@mi-command-absent"


def creates_request(args: Mapping[str, Any], check_mode: bool) -> dict[str, Any] | None:
    """{argv, creates, check_mode} of a command with ``creates`` this action can answer when the
    path exists (a literal absolute path, no glob pattern), or None."""
    creates = args.get("creates")
    if not isinstance(creates, str) or not creates.startswith("/") or any(c in creates for c in "*?[\n\x00"):
        return None
    argv = argv_of({k: v for k, v in args.items() if k != "creates"})
    return None if argv is None else {"argv": argv, "creates": creates, "check_mode": bool(check_mode)}


def exists_command(req: Mapping[str, Any]) -> str:
    """Whether the path of ``creates`` exists, as glob.glob sees a literal path (lexists)."""
    path = shlex.quote(req["creates"])
    return f"if [ -e {path} ] || [ -L {path} ]; then echo {_EXISTS}; else echo {_ABSENT}; fi"


def exists_answer(req: Mapping[str, Any], stdout: str) -> dict[str, Any] | None:
    """The command module's result when the path of ``creates`` exists, or None (the module runs)."""
    if stdout != f"{_EXISTS}\n":
        return None
    would = "Would" if req["check_mode"] else "Did"
    return with_lines({"changed": False, "stdout": f"skipped, since {req['creates']} exists", "stderr": "",
                       "rc": 0, "cmd": req["argv"], "start": None, "end": None, "delta": None,
                       "msg": f"{would} not run command since '{req['creates']}' exists"})


def with_lines(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with what ansible's _execute_module adds to every module result with an
    output: ``stdout_lines`` and ``stderr_lines``."""
    result["stdout_lines"] = result["stdout"].splitlines()
    result["stderr_lines"] = result["stderr"].splitlines()
    return result


def shell_command(argv: list[str]) -> str:
    """One shell command: the start time and the end time on stderr around the argument vector
    (a line break before the end: the command's stderr may not end with one; the module strips
    trailing line breaks anyway)."""
    return (f"echo \"{_START} $({_DATE})\" >&2; {shlex.join(argv)} </dev/null; rc=$?; "
            f"printf '\\n%s\\n' \"{_END} $({_DATE}) $rc\" >&2; exit 0")


def _time(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        return None


def judge(argv: list[str], stdout: str, stderr: str) -> dict[str, Any] | None:
    """The command module's result from ``shell_command``'s output, or None when it is not certain."""
    lines = stderr.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    while lines and SSH_CLOSED.match(lines[-1]):
        lines.pop()  # what ssh and mitogen add after the command
    starts = [i for i, line in enumerate(lines) if line.startswith(_START + " ")]
    if len(starts) != 1 or not lines or not lines[-1].startswith(_END + " "):
        return None
    first = starts[0]
    start = _time(lines[first][len(_START) + 1:])
    end_text, _, rc_text = lines[-1][len(_END) + 1:].rpartition(" ")
    end = _time(end_text)
    if start is None or end is None or not rc_text.isdigit() or "\ufffd" in stdout + stderr:
        return None
    rc = int(rc_text)
    if rc >= 126:
        return None  # not found, not executable or killed: the module reports it its own way
    err = "\n".join(lines[first + 1:-1])
    result = {"changed": True, "stdout": stdout.rstrip("\r\n"), "stderr": err.rstrip("\r\n"), "rc": rc,
              "cmd": argv, "start": str(start), "end": str(end), "delta": str(end - start),
              "msg": "" if rc == 0 else "non-zero return code"}
    if rc != 0:
        result["failed"] = True
    return with_lines(result)


class ActionModule(OneCommandAction):
    """ansible.builtin.command answered by running the argument vector over the connection."""

    MODULE = "ansible.legacy.command"

    def mi_request(self, args, task_vars):  # noqa: D102
        # a task environment (what ansible would put before the module's command) -> the module
        if self._compute_environment_string():
            return None
        if args.get("creates") is not None:
            return creates_request(args, self._task.check_mode)
        # check mode: the module skips
        return None if self._task.check_mode else argv_of(args)

    def mi_command(self, req, task_vars):  # noqa: D102
        return exists_command(req) if isinstance(req, dict) else shell_command(req)

    def mi_answer(self, req, out):  # noqa: D102
        if isinstance(req, dict):
            return exists_answer(req, out.get("stdout", ""))
        return judge(req, out.get("stdout", ""), out.get("stderr", ""))
