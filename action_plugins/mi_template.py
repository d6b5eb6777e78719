"""Action mi_template: ansible.builtin.template whose copy step is mi_copy.

ansible.builtin.template renders on the controller and hands the file to the copy action
(``ansible.legacy.copy``). This one hands it to ``mi_copy`` instead, which skips the
second module run on the terminal when the file is already in place with its owner, group
and mode (action_plugins/mi_copy.py), and makes the terminal's temporary directory only when
it sends the file. Options and results: ansible.builtin.template's.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action.template import ActionModule as TemplateAction

DOCUMENTATION = r"""
name: mi_template
short_description: ansible.builtin.template, without a second module run for a file already in place
description:
  - The options and results of M(ansible.builtin.template); the rendered file is written by
    the mi_copy action (ansible.builtin.copy without the M(ansible.builtin.file) run when the
    destination's checksum, owner, group and mode already match).
"""


class _ActionLoader:
    """The action loader, except that ansible.legacy.copy is mi_copy."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def get(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._loader.get("mi_copy" if name == "ansible.legacy.copy" else name, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _SharedLoaders:
    """The shared plugin loaders with the action loader above."""

    def __init__(self, shared: Any) -> None:
        self._shared = shared
        self.action_loader = _ActionLoader(shared.action_loader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared, name)


class ActionModule(TemplateAction):
    """ansible.builtin.template with mi_copy as its copy step."""

    def _early_needs_tmp_path(self):  # noqa: D102
        return False  # the template is rendered here; mi_copy makes the directory if it sends the file

    def run(self, tmp=None, task_vars=None):  # noqa: D102
        shared = self._shared_loader_obj
        self._shared_loader_obj = _SharedLoaders(shared)
        try:
            return super().run(tmp, task_vars)
        finally:
            self._shared_loader_obj = shared
