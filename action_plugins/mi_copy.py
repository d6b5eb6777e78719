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
"""

from __future__ import annotations

from typing import Any, Mapping

from ansible.plugins.action.copy import ActionModule as CopyAction

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
    ansible.builtin.copy gives the file module when the checksums match, ``diff`` whether the
    task runs with --diff (the file module then returns its empty before/after).
    """
    path = args.get("dest") or args.get("path")
    if not path or args.get("state", "file") != "file" or args.get("recurse"):
        return None
    if any(v is not None for k, v in args.items() if k not in _JUDGED):
        return None
    if stat.get("path") != path or not stat.get("exists") or not stat.get("isreg") or stat.get("islnk"):
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
        "state": "file",
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


class ActionModule(CopyAction):
    """ansible.builtin.copy that answers the file module's run itself when the stat proves it."""

    _mi_stat: dict[str, Any] | None = None

    def _execute_remote_stat(self, path, all_vars, follow, tmp=None, checksum=True):  # noqa: D102
        stat = super()._execute_remote_stat(path, all_vars, follow, tmp=tmp, checksum=checksum)
        self._mi_stat = dict(stat, path=path) if not follow else None
        return stat

    def _execute_module(self, module_name=None, module_args=None, *args, **kwargs):  # noqa: D102
        if module_name == "ansible.legacy.file" and self._mi_stat is not None and module_args:
            known = unchanged_file_result(self._mi_stat, module_args, bool(self._task.diff))
            if known is not None:
                return known
        return super()._execute_module(module_name, module_args, *args, **kwargs)
