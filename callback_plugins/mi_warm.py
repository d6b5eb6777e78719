# -*- coding: utf-8 -*-
"""Load the Jinja plugins once in the controller, before ansible forks a worker per task."""
from __future__ import annotations

DOCUMENTATION = r"""
name: mi_warm
type: aggregate
short_description: load the Jinja filters and tests once, before the workers fork
description:
  - ansible-playbook runs every task of every host in a worker process forked from the
    controller. A worker that templates anything first loads every filter and test plugin file
    (ansible's own and the project's filter_plugins), about 20 ms of CPU, and
    throws them away when the task ends, because the controller process it was forked from
    never loaded them.
  - This callback loads them in the controller when the playbook starts and again whenever a
    role's plugin directory reset the loaders' cache (checked at each task start, a dictionary
    lookup when nothing changed), so that every worker inherits them. Nothing else changes;
    the same plugins, found the same way, on first use.
  - Always on (it needs no enabling); set C(MI_WARM=0) in the environment to turn it off and
    compare (scripts/bench.py --compare).
"""

import os

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, test_loader


def warm() -> bool:
    """Fill the filter and test loaders' caches (no-op when already full).

    Returns True when something had to be loaded.
    """
    loaded = False
    for loader in (filter_loader, test_loader):
        # all() fills the loader's cache of ansible.builtin and configured-path plugins first,
        # and returns at once when it is already filled.
        cached = getattr(loader, "_cached_non_collection_wrappers", None)
        if cached:
            continue
        for _plugin in loader.all():
            break
        loaded = True
    return loaded


class CallbackModule(CallbackBase):
    """Warm the controller's plugin caches before the workers fork."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "mi_warm"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self) -> None:
        super().__init__()
        self._on = os.environ.get("MI_WARM", "1") != "0"

    def _warm(self) -> None:
        if self._on:
            warm()

    def v2_playbook_on_play_start(self, play) -> None:
        self._warm()

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._warm()

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self._warm()
