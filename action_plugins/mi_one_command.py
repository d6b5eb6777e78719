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

A loop (``loop:``) is read in one round trip when the plugin sets ``BATCH``: ansible runs a
task's items one after another in one worker process, so the first item templates the task's
arguments for every item, runs their commands together in one shell command, and keeps each
output by its command, once per item that asks it; an item then takes the output kept for
its own, identical command instead of running it. An item that runs the module (it may
change the terminal) drops everything kept. A task that says where or as whom it runs
(``delegate_to``, ``become_user``, ...) is not batched: its items may each run elsewhere.
A batch that writes anything on stderr is not kept at all, so a kept output's stderr is
empty: a plugin sets ``BATCH`` when its answer reads no more of stderr than that it is
empty. mi_copy (and mi_template through it) reads its destination's stat the same way, with
``loop_output`` and ``loop_drop``.

Ansible loads action plugins by path, not as a package, so a plugin reaches this file by
appending its own directory to ``sys.path`` before ``from mi_one_command import ...`` (four
lines at the top of each plugin); the unit tests have the directory there too.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Callable, Mapping

from ansible import constants as C
from ansible.plugins.action import ActionBase

# What ssh (and mitogen) write after the command on stderr when the shared connection closes
SSH_CLOSED = re.compile(r"^Shared connection to \S+ closed\.\r?$")


def stderr_said(stderr: Any) -> list[str]:
    """The lines a command wrote on stderr: not blank ones, nor ssh's closing line."""
    return [line for line in str(stderr).splitlines() if line.strip() and not SSH_CLOSED.match(line)]

# The outputs of one loop's commands read at once: (task uuid, host) and {command: output}.
# The worker process runs one task for one host; what is kept lives as long as that loop.
_LOOP: dict[str, Any] = {"key": None, "outputs": {}}
# Task keywords that may set where or as whom each item's command runs: such a loop is not batched
_PER_ITEM_CONNECTION = ("delegate_to", "connection", "remote_user", "become", "become_user", "become_method",
                        "become_flags", "port")


def batch_command(commands: list[str], token: str) -> str:
    """One shell command running each of ``commands`` in turn, its stdout and exit status
    between markers that carry ``token``."""
    return "\n".join(f"printf '@B{token} {i}\\n'; (\n{c}\n) </dev/null; printf '\\n@E{token} {i} %d\\n' $?"
                     for i, c in enumerate(commands))


def batch_outputs(commands: list[str], token: str, out: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each of ``commands``' output (stdout, an empty stderr, rc) from ``batch_command``'s; {}
    when the batch failed, said anything on stderr, or an item's markers are missing."""
    if out.get("rc") != 0 or stderr_said(out.get("stderr", "")):
        return {}
    found = {int(m.group(1)): (m.group(2), int(m.group(3))) for m in re.finditer(
        rf"^@B{token} (\d+)\n(.*?)\n@E{token} \1 (\d+)$", str(out.get("stdout", "")), re.S | re.M)}
    if sorted(found) != list(range(len(commands))):
        return {}
    return {c: {"stdout": found[i][0], "stderr": "", "rc": found[i][1]} for i, c in enumerate(commands)}


def loop_arguments(action: ActionBase, task_vars: Mapping[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The arguments and variables of each item of ``action``'s task ``loop``, the task's own
    arguments templated for every item; [] when the task has no such loop or any item cannot
    be templated here (only its own run can)."""
    task = action._task  # noqa: SLF001  (the action's own task)
    ds = getattr(task, "_ds", None)
    loop_var = task_vars.get("ansible_loop_var")
    raw = ds.get(task.action) if isinstance(ds, dict) else None
    if not isinstance(raw, dict) or not loop_var or "loop" not in ds or task.async_val:
        return []
    if any(k in ds for k in _PER_ITEM_CONNECTION):
        return []  # the items may run on other hosts or as other users than the first item's
    templar = action._templar  # noqa: SLF001
    found = []
    try:
        for item in templar.copy_with_new_env(available_variables=task_vars).template(ds["loop"]):
            item_vars = {**task_vars, loop_var: item}
            found.append((dict(templar.copy_with_new_env(available_variables=item_vars).template(raw)), item_vars))
    except Exception:  # noqa: BLE001
        return []
    return found


def loop_output(action: ActionBase, command: str, task_vars: Mapping[str, Any],
                loop_commands: Callable[[], list[str | None]] | None, sudoable: bool = True,
                in_data: bytes | None = b"\n") -> dict[str, Any]:
    """``command``'s output (``_low_level_execute_command``'s): the first time a task's loop asks,
    ``loop_commands()`` gives every item's command (None: the item runs none) and they are run
    in one batch; an output kept from it for this very command, or else the command run now."""
    key = (action._task._uuid, task_vars.get("inventory_hostname"))  # noqa: SLF001
    if loop_commands is not None and task_vars.get("ansible_loop_var") and _LOOP["key"] != key:
        _LOOP.update(key=key, outputs={})
        try:
            commands = [c for c in loop_commands() if c is not None]
        except Exception:  # noqa: BLE001  (an item only its own run can judge: no batch, each item alone)
            commands = []
        unique = list(dict.fromkeys(commands))
        if len(commands) > 1 and command in unique:
            token = secrets.token_hex(6)
            out = action._low_level_execute_command(batch_command(unique, token), sudoable=sudoable,  # noqa: SLF001
                                                    in_data=in_data)
            _LOOP["outputs"] = {c: [dict(o) for _ in range(commands.count(c))]
                                for c, o in batch_outputs(unique, token, out).items()}
    kept = _LOOP["outputs"].get(command) if _LOOP["key"] == key else None
    if kept:
        return kept.pop()
    return action._low_level_execute_command(command, sudoable=sudoable, in_data=in_data)  # noqa: SLF001


def loop_drop() -> None:
    """Forget every output kept: a module ran, and what the batch read may have changed."""
    _LOOP["outputs"] = {}


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
    # The commands only read, and the answer needs no more of stderr than that it is empty:
    # a loop's commands may run together (see above)
    BATCH = False
    # Options the action reads itself ({name: allowed values}): ``mi_request`` sees them, the
    # module never does, and a value not allowed fails the task naming the option
    OWN_OPTIONS: Mapping[str, tuple[Any, ...]] = {}

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

    def mi_output(self, command: str, task_vars: Mapping[str, Any]) -> dict[str, Any]:
        """The output of ``command``: kept from this loop's batch, or run now."""
        def loop_commands() -> list[str | None]:
            commands: list[str | None] = []
            for args, item_vars in loop_arguments(self, task_vars):
                req = self.mi_request(args, item_vars)
                commands.append(self.mi_command(req, item_vars) if req is not None else None)
            return commands
        return loop_output(self, command, task_vars, loop_commands if self.BATCH else None,
                           sudoable=self.SUDOABLE, in_data=self.IN_DATA)

    def run(self, tmp=None, task_vars=None):  # noqa: D102
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        for name, allowed in self.OWN_OPTIONS.items():
            if name in args and args[name] not in allowed:
                result.update(failed=True, msg=f"{name}: must be one of {', '.join(map(str, allowed))}, "
                                               f"not {args[name]!r}")
                return result
        req = None if self._task.async_val else self.mi_request(args, task_vars)
        command = self.mi_command(req, task_vars) if req is not None else None
        if command is not None:
            out = self.mi_output(command, task_vars)
            known = self.mi_answer(req, out) if out.get("rc") == 0 else None
            if known is not None:
                result.update(known)
                return result
        loop_drop()  # the module may change what the rest of the loop would read
        args = {k: v for k, v in args.items() if k not in self.OWN_OPTIONS}
        result.update(self._execute_module(module_name=self.MODULE, module_args=args,
                                           task_vars=task_vars, wrap_async=self._task.async_val))
        return result
