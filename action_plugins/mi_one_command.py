"""The skeleton the project's actions share (not an action: no task names it).

Each of mi_apt, mi_command, mi_file, mi_find, mi_getent, mi_group, mi_lineinfile, mi_slurp,
mi_stat and mi_systemd_service answers a builtin module's task from one shell command over the
connection when that answer is certain, and runs the builtin module, unchanged, otherwise
(docs/DEVELOPING.md, convention 4). What differs between them is three pure steps, which
each plugin keeps as module-level functions (the unit tests call them alone):

- ``mi_request(args, task_vars)``: what the task asks, or None when only the module can say
  (async always goes to the module);
- ``mi_command(req, task_vars)``: the one shell command that reads the answer, or None;
- ``mi_answer(req, out)``: the module's result from that command's output (``stdout``,
  ``stderr``, ``rc`` of ``_low_level_execute_command``), or None when it is not certain.

Ansible loads action plugins by path, not as a package, so a plugin reaches this file by
appending its own directory to ``sys.path`` before ``from mi_one_command import ...`` (four
lines at the top of each plugin); the unit tests have the directory there too.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ansible import constants as C
from ansible.plugins.action import ActionBase

# What ssh (and mitogen) write after the command on stderr when the shared connection closes
SSH_CLOSED = re.compile(r"^Shared connection to \S+ closed\.\r?$")


class OneCommandAction(ActionBase):
    """A builtin module's task answered by one shell command when the answer is certain."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    MODULE = ""  # the builtin that answers whatever the command cannot ("ansible.legacy.NAME")
    SUDOABLE = True  # run the command with the task's become
    # One line on stdin: without it ssh (and mitogen) give the command a terminal for sudo,
    # which merges stderr into stdout and turns line ends into CR LF.
    IN_DATA: bytes | None = b"\n"

    def mi_request(self, args: dict[str, Any], task_vars: Mapping[str, Any]) -> Any:
        """What the task asks, or None: the module runs."""
        raise NotImplementedError

    def mi_command(self, req: Any, task_vars: Mapping[str, Any]) -> str | None:
        """The shell command that reads the answer, or None: the module runs."""
        raise NotImplementedError

    def mi_answer(self, req: Any, out: Mapping[str, Any]) -> dict[str, Any] | None:
        """The module's result from the command's output, or None: the module runs."""
        raise NotImplementedError

    def mi_python(self, task_vars: Mapping[str, Any]) -> str | None:
        """The Python a module would run with, when it is a plain path (not discovered): for the
        actions that run a standard-library script on the terminal (``python3 -I -S``)."""
        value = task_vars.get("ansible_python_interpreter") or task_vars.get("ansible_facts", {}).get(
            "discovered_interpreter_python") or C.config.get_config_value("INTERPRETER_PYTHON", variables=task_vars)
        value = str(self._templar.template(value)) if value else ""
        return value if value.startswith("/") and " " not in value else None

    def run(self, tmp=None, task_vars=None):  # noqa: D102
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        req = None if self._task.async_val else self.mi_request(args, task_vars)
        command = self.mi_command(req, task_vars) if req is not None else None
        if command is not None:
            out = self._low_level_execute_command(command, sudoable=self.SUDOABLE, in_data=self.IN_DATA)
            known = self.mi_answer(req, out) if out.get("rc") == 0 else None
            if known is not None:
                result.update(known)
                return result
        result.update(self._execute_module(module_name=self.MODULE, module_args=args,
                                           task_vars=task_vars, wrap_async=self._task.async_val))
        return result
