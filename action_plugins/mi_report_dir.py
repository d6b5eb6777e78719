"""Action mi_report_dir: a report directory on the controller, created and tested for writing.

An audit writes its report on the controller. Before any host is read, the directory must
exist and take a file: an audit that runs for minutes and then cannot write its report has
wasted them. This took three tasks delegated to localhost (``file`` state=directory,
``tempfile``, ``file`` state=absent), each a whole Python module started on the controller:
1.25 s of every audit (docs/BENCHMARKS.md, "Session 14"). An action plugin already runs on the
controller, so this one does the same work in the worker's own process: no module, no
connection.

What it does is what the three modules did: creates the directory and any missing parents
with ``mode`` (as the file module does, every directory it creates gets the mode), sets
``mode`` on the directory when it already exists with another one, then creates and removes
a file named ``.write-test-*`` in it. In check mode it only reports what it would do (the
audit's task runs with ``check_mode: false``).

Options: ``path`` (absolute, required), ``mode`` (octal string, default "0750").
Result: ``path``, ``mode``, ``created`` (the directories made), ``changed``. A failure names
the option and the directory: "path: cannot create or write in /x/y (Permission denied)".
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from typing import Any

from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
name: mi_report_dir
short_description: a report directory on the controller, created and tested for writing
description:
  - Creates O(path) and its missing parents with O(mode), sets O(mode) on O(path), then
    creates and removes a file C(.write-test-*) in it. Runs on the controller, in the
    worker's process.
options:
  path: {description: absolute path of the directory, required: true, type: str}
  mode: {description: octal mode of the directory and of the parents it creates, default: "0750", type: str}
"""

_MODE = re.compile(r"^0?[0-7]{3}$")


def check_args(args: dict[str, Any]) -> tuple[str, int]:
    """The directory and mode the task asks for; ValueError naming the option otherwise."""
    unknown = sorted(set(args) - {"path", "mode"})
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown option (mi_report_dir takes path and mode)")
    path = args.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ValueError("path: required, a directory path")
    if not os.path.isabs(path):
        raise ValueError(f"path: {path} is not an absolute path")
    mode = args.get("mode", "0750")
    if not isinstance(mode, str) or not _MODE.match(mode):
        raise ValueError(f"mode: {mode!r} is not an octal mode such as \"0750\"")
    return os.path.normpath(path), int(mode, 8)


def missing_dirs(path: str) -> list[str]:
    """The directories that do not exist yet on the way to ``path``, outermost first."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing[::-1]


def ensure(path: str, mode: int, check: bool) -> dict[str, Any]:
    """Create ``path`` (and its parents) with ``mode``, set its mode, test a write.

    Raises OSError (the file operation that failed) or ValueError (not a directory)."""
    created = missing_dirs(path)
    for directory in [] if check else created:
        os.mkdir(directory)
        os.chmod(directory, mode)  # the umask does not decide, as for the file module
    changed = bool(created)
    if not created or not check:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise ValueError(f"path: {path} exists and is not a directory")
        if stat.S_IMODE(st.st_mode) != mode:
            changed = True
            if not check:
                os.chmod(path, mode)
        if not check:
            handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
            os.close(handle)
            os.unlink(probe)
    return {"path": path, "mode": f"{mode:04o}", "created": created, "changed": changed}


class ActionModule(ActionBase):
    """The report directory, on the controller."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):  # noqa: D102
        result = super().run(tmp, task_vars)
        try:
            path, mode = check_args(dict(self._task.args))
            result.update(ensure(path, mode, bool(self._task.check_mode)))
        except ValueError as exc:
            result.update(failed=True, msg=str(exc))
        except OSError as exc:
            where = exc.filename or self._task.args.get("path")
            result.update(failed=True, msg=f"path: cannot create or write in {where} ({exc.strerror})")
        return result
