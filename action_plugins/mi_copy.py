"""Action mi_copy: ansible.builtin.copy without the second module run for a file already in place.

When a file's checksum already matches, ansible.builtin.copy (and template, which hands its
rendering to copy) runs the ``file`` module on the terminal to apply owner, group and mode,
even when the ``stat`` it has just run shows them right. That second run is a whole Python
start on the terminal (about 0.2 CPU s, docs/BENCHMARKS.md, "Session 7") for every
config file of every audit and every converge of a compliant terminal. This action is
ansible.builtin.copy's own action, with one change: when the ``stat`` shows a regular file
(not a link) whose owner, group and mode are those asked for, and the task asks for no
other attribute (SELinux context, chattr attributes), the ``file`` module's answer is
known, "unchanged", and is not asked. In every other case, and whenever the file's
content differs, it is ansible.builtin.copy. Options: ansible.builtin.copy's.

The ``stat`` itself (the destination's type, owner, group, mode and SHA-1) is asked with one
shell command (GNU ``stat`` and ``sha1sum``, no Python) instead of the ``stat`` module, when
the destination is an absolute path and its link is not to be followed; the answer is the
module's for what ansible.builtin.copy reads (absent, or a regular file: type, owner, group,
mode, size, checksum). A link, a directory, an owner without a name, an unreadable file or
any output that is not exactly as expected sends the stat to the module as before. In a
loop, the first item reads every item's destination in one round trip
(action_plugins/mi_one_command.py, ``loop_output``); any module run drops what it kept.

The terminal's temporary directory, which ansible.builtin.copy makes before anything else
(three round trips: the remote home, mkdir, and rm at the end), is made only after the stat,
when the file is to be sent: never in check mode, and not when the checksums already match.
"""

from __future__ import annotations

import shlex
import stat as st
import sys
from pathlib import Path
from typing import Any, Mapping

from ansible.errors import AnsibleActionFail
from ansible.plugins.action.copy import ActionModule as CopyAction
from ansible.utils.hashing import checksum as local_checksum

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)  # ansible loads plugins by path: mi_one_command.py is beside this file
from mi_one_command import loop_arguments, loop_drop, loop_output  # noqa: E402

DOCUMENTATION = r"""
name: mi_copy
short_description: ansible.builtin.copy, without a second module run for a file already in place
description:
  - The options and results of M(ansible.builtin.copy). When the destination's checksum, owner,
    group and mode already match, the M(ansible.builtin.file) run that ansible.builtin.copy
    makes to apply attributes is skipped (its answer, unchanged, is known from the stat).
  - Any other attribute asked for (SELinux context, O(attributes)), a link, a symbolic mode or
    a directory copy goes through ansible.builtin.copy unchanged.
extends_documentation_fragment: []
"""

# file-module arguments this shortcut can judge from a stat; any other one set -> the module runs
_JUDGED = frozenset(("path", "dest", "_original_basename", "recurse", "state", "mode", "owner",
                     "group", "follow", "force", "_diff_peek", "unsafe_writes"))


def _mode(value: Any) -> int | None:
    """An octal mode as an int; None for a mode only the file module can judge (symbolic)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value and all(c in "01234567" for c in value):
        return int(value, 8)
    return None


def _same_id(wanted: Any, name: Any, number: Any) -> bool:
    """Whether an owner or group asked for (a name or a number) is the stat's."""
    if wanted is None:
        return True
    text = str(wanted)
    return text == name or (text.isdigit() and int(text) == number)


def unchanged_file_result(stat: Mapping[str, Any], args: Mapping[str, Any],
                          diff: bool = False) -> dict[str, Any] | None:
    """The file module's result for ``args`` if the ``stat`` proves it would change nothing, else None.

    ``stat`` is ansible.legacy.stat's ``stat`` of the destination, ``args`` the arguments
    ansible.builtin.copy gives the file module when the checksums match (or mi_file's task:
    ``state`` file, the default, or directory), ``diff`` whether the task runs with --diff
    (the file module then returns its empty before/after).
    """
    path = args.get("dest") or args.get("path")
    state = args.get("state") or "file"
    if not path or state not in ("file", "directory") or args.get("recurse"):
        return None
    if any(v is not None for k, v in args.items() if k not in _JUDGED):
        return None
    kind = "isreg" if state == "file" else "isdir"
    if stat.get("path") != path or not stat.get("exists") or not stat.get(kind) or stat.get("islnk"):
        return None
    if not _same_id(args.get("owner"), stat.get("pw_name"), stat.get("uid")):
        return None
    if not _same_id(args.get("group"), stat.get("gr_name"), stat.get("gid")):
        return None
    current = _mode(stat.get("mode"))
    if args.get("mode") is not None and (current is None or _mode(args["mode"]) != current):
        return None
    result = {
        "changed": False,
        "path": path,
        "state": state,
        "uid": stat.get("uid"),
        "gid": stat.get("gid"),
        "owner": stat.get("pw_name"),
        "group": stat.get("gr_name"),
        "mode": stat.get("mode"),
        "size": stat.get("size"),
    }
    if diff:
        result["diff"] = {"before": {"path": path}, "after": {"path": path}}
    return result


def stat_command(path: str, checksum: bool = True) -> str | None:
    """The shell command whose output ``parse_stat`` (and mi_file) reads for ``path``; None when
    only the module can ask. Without ``checksum`` no SHA-1 line."""
    if not path.startswith("/") or "\n" in path:
        return None
    q = shlex.quote(path)
    # lstat (GNU stat without -L): the raw mode in hex, ids, size, names; the SHA-1 of a regular file
    sha1 = f"if [ -f {q} ] && [ ! -L {q} ]; then echo \"@sha1 $(sha1sum < {q})\"; fi; " if checksum else ""
    return (f"if out=$(LC_ALL=C stat -c '%f %u %g %s %U %G' -- {q} 2>&1); then echo \"@stat $out\"; {sha1}"
            f"else case $out in *': No such file or directory') echo @absent;; esac; fi; echo @end")


def stat_fields(line: str) -> tuple[int, int, int, int, str, str] | None:
    """(raw mode, uid, gid, size, owner, group) from ``stat_command``'s ``@stat`` line; None when
    the line is not exactly that or the owner or group has no name."""
    fields = line.split(" ")
    if len(fields) != 7 or fields[0] != "@stat" or "UNKNOWN" in fields[5:]:
        return None
    try:
        return int(fields[1], 16), int(fields[2]), int(fields[3]), int(fields[4]), fields[5], fields[6]
    except ValueError:
        return None


def parse_stat(output: str, path: str) -> dict[str, Any] | None:
    """ansible.legacy.stat's ``stat`` (as ``_execute_remote_stat`` returns it) from ``stat_command``'s
    output, for an absent path or a readable regular file; None for anything else (the module answers)."""
    lines = output.splitlines()
    if lines == ["@absent", "@end"]:
        return {"exists": False, "checksum": "1"}
    if len(lines) != 3 or lines[2] != "@end" or not lines[1].startswith("@sha1 "):
        return None
    fields = stat_fields(lines[0])
    sha1 = lines[1].split()
    if fields is None or len(sha1) != 3 or sha1[2] != "-" or len(sha1[1]) != 40:
        return None
    mode, uid, gid, size, owner, group = fields
    if not st.S_ISREG(mode):
        return None
    return {"exists": True, "path": path, "mode": "%04o" % st.S_IMODE(mode), "isdir": False, "isreg": True,
            "islnk": False, "uid": uid, "gid": gid, "size": size, "pw_name": owner, "gr_name": group,
            "checksum": sha1[1]}


class ActionModule(CopyAction):
    """ansible.builtin.copy that answers the file module's run itself when the stat proves it."""

    _mi_stat: dict[str, Any] | None = None
    _mi_source: str | None = None

    def _early_needs_tmp_path(self):  # noqa: D102
        # The terminal's temporary directory (three round trips: its home, mkdir, rm) is made
        # only when a file is to be sent: see _execute_remote_stat. A file in place needs none.
        return False

    def _copy_file(self, source_full, source_rel, content, content_tempfile, dest, task_vars, follow):  # noqa: D102
        self._mi_source = source_full
        return super()._copy_file(source_full, source_rel, content, content_tempfile, dest, task_vars, follow)

    def _transfer_file(self, local_path, remote_path):  # noqa: D102
        if self._connection._shell.tmpdir is None:
            raise AnsibleActionFail(f"mi_copy: no temporary directory on the terminal to send {local_path} to")
        return super()._transfer_file(local_path, remote_path)

    def _execute_remote_stat(self, path, all_vars, follow, tmp=None, checksum=True):  # noqa: D102
        stat = None
        command = stat_command(path) if checksum and not follow and tmp is None else None
        if command is not None:
            def loop_commands() -> list[str | None]:
                dests = [args.get("dest") for args, _ in loop_arguments(self, all_vars)]
                return [stat_command(d) if isinstance(d, str) else None for d in dests]
            out = loop_output(self, command, all_vars, loop_commands, in_data=b"\n")  # no terminal: see mi_command
            stat = parse_stat(out.get("stdout", ""), path) if out.get("rc") == 0 else None
        if stat is None:
            stat = super()._execute_remote_stat(path, all_vars, follow, tmp=tmp, checksum=checksum)
        self._mi_stat = dict(stat, path=path) if not follow else None
        if (not self._task.check_mode and self._connection._shell.tmpdir is None
                and (self._mi_source is None or stat.get("isdir") or stat.get("checksum") != local_checksum(
                    self._mi_source))):
            self._make_tmp_path()  # ansible.builtin.copy sends the file next (or cannot be foreseen here)
        return stat

    def _execute_module(self, module_name=None, module_args=None, *args, **kwargs):  # noqa: D102
        if module_name == "ansible.legacy.file" and self._mi_stat is not None and module_args:
            known = unchanged_file_result(self._mi_stat, module_args, bool(self._task.diff))
            if known is not None:
                return known
        loop_drop()  # the module may change what the rest of the loop would read
        return super()._execute_module(module_name, module_args, *args, **kwargs)
