# -*- coding: utf-8 -*-
"""Tell the roles whether this run has changed a terminal so far (the variable mi_run_changed)."""
from __future__ import annotations

DOCUMENTATION = r"""
name: mi_changes
type: aggregate
short_description: the variable mi_run_changed, per host, for the roles' second reads
description:
  - playbooks/site.yml checks every role's input and reads the terminal's state in its first
    play, before anything changes. Each role reads it again when its own play starts, because
    the roles before it may have changed what it reads (software that another role installed,
    a directory another role made).
  - This callback keeps, for every host, whether a task of this run has changed it, or failed
    on it, so far, and sets it as the host variable C(mi_run_changed) before the next task is
    queued. A role whose play finds C(mi_run_changed) false skips its second read, because
    what the first play read still holds (roles/*/tasks/main.yml, the include of
    validate.yml). That is the second, idempotent converge, with 82 tasks fewer (369 -> 287,
    docs/BENCHMARKS.md, session 16).
  - A host the callback has not seen has no C(mi_run_changed); the roles then read again,
    as they do when it is true. A failed task counts as a change (it may have changed part
    of what it was doing), and so does a change on a host a task was delegated to.
  - Always on (it needs no enabling). Set C(MI_RUN_CHANGES=0) in the environment to turn it
    off, and every role reads again, as before session 16.
"""

import os
import typing as t

from ansible.plugins.callback import CallbackBase

VARIABLE = "mi_run_changed"


class CallbackModule(CallbackBase):
    """Keep mi_run_changed per host: has this run changed it (or failed on it) so far?"""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "mi_changes"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self) -> None:
        super().__init__()
        self._on = os.environ.get("MI_RUN_CHANGES", "1") != "0"
        self._vm: t.Any = None
        self._changed: dict[str, bool] = {}

    def v2_playbook_on_play_start(self, play: t.Any) -> None:
        self._vm = play.get_variable_manager() if self._on else None

    def _record(self, result: t.Any, changed: bool) -> None:
        if self._vm is None:
            return
        names = [result._host.get_name()]
        # As the strategy finds the host a result's facts go to (StrategyBase.get_delegated_hosts).
        delegated_vars = result._result.get("_ansible_delegated_vars")
        if changed and delegated_vars is not None:
            delegated = delegated_vars.get("ansible_delegated_host") or result._task.delegate_to
            if isinstance(delegated, str) and delegated:
                names.append(delegated)
        for name in names:
            before = self._changed.get(name)
            now = bool(before) or changed
            if before is None or now != before:
                self._changed[name] = now
                self._vm.set_host_variable(name, VARIABLE, now)

    def v2_runner_on_ok(self, result: t.Any) -> None:
        self._record(result, bool(result._result.get("changed")))

    def v2_runner_on_failed(self, result: t.Any, ignore_errors: bool = False) -> None:
        self._record(result, True)

    def v2_runner_on_skipped(self, result: t.Any) -> None:
        self._record(result, False)
