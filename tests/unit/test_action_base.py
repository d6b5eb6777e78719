"""The project's one-command actions share one skeleton (action_plugins/mi_one_command.py): each is
a OneCommandAction whose fallback is a builtin module that exists. Their behaviour is tested
side by side with the builtins in the other test_*action* files."""

import importlib
import importlib.util
import json
from pathlib import Path

import pytest

import mi_one_command
from conftest import run_play

ROOT = Path(__file__).resolve().parents[2]
# the actions that extend the builtin copy and template actions, and the controller-only ones
NOT_ONE_COMMAND = {"mi_copy", "mi_template", "mi_fleet_report", "mi_report_dir", "mi_one_command"}
ONE_COMMAND = sorted(p.stem for p in (ROOT / "action_plugins").glob("mi_*.py") if p.stem not in NOT_ONE_COMMAND)


def test_the_list_is_not_empty():
    assert {"mi_apt", "mi_command", "mi_file", "mi_getent", "mi_group", "mi_lineinfile", "mi_slurp", "mi_stat",
            "mi_systemd_service"} <= set(ONE_COMMAND)


@pytest.mark.parametrize("name", ONE_COMMAND)
def test_each_action_is_a_one_command_action_that_falls_back_to_a_builtin(name):
    plugin = importlib.import_module(name)
    cls = plugin.ActionModule
    assert issubclass(cls, mi_one_command.OneCommandAction)
    assert "run" not in vars(cls), "the skeleton's run() decides; a plugin gives the three steps"
    for step in ("mi_request", "mi_command", "mi_answer"):
        assert step in vars(cls), f"{name}: {step}"
    if cls.MODULE.startswith("ansible.legacy."):
        module = cls.MODULE.removeprefix("ansible.legacy.")
        assert importlib.util.find_spec(f"ansible.modules.{module}"), cls.MODULE
        assert f"ansible.builtin.{module}" in (plugin.__doc__ or ""), f"{name}: its docstring names the builtin"
    else:  # a module of a collection the ansible package installs (ansible.posix.authorized_key)
        namespace, collection, module = cls.MODULE.split(".")
        assert importlib.util.find_spec(f"ansible_collections.{namespace}.{collection}.plugins.modules.{module}"), \
            cls.MODULE
        assert cls.MODULE in (plugin.__doc__ or ""), f"{name}: its docstring names the module"


def test_action_and_filter_plugin_names_do_not_collide():
    """The action plugins import each other by name from their directory (on sys.path), and
    the unit tests put the filter plugins' directory there too: one name, one file."""
    actions = {p.stem for p in (ROOT / "action_plugins").glob("*.py")}
    filters = {p.stem for p in (ROOT / "filter_plugins").glob("*.py")}
    assert not actions & filters


OWN_OPTION_PLAY = """
- name: an option the action reads itself
  hosts: all
  gather_facts: false
  tasks:
    - name: A value the option does not allow
      mi_systemd_service: {{name: mi-none, state: started, mi_missing: perhaps}}
      register: bad
      ignore_errors: true
    - name: A task only the module answers (restarted), with the option
      mi_systemd_service: {{name: mi-none, state: restarted, mi_missing: skip}}
      register: module
      ignore_errors: true
    - name: KEEP
      ansible.builtin.copy:
        content: "{{{{ {{'bad': bad, 'module': module}} | to_json }}}}"
        dest: "{out}"
        mode: "0600"
"""


def test_an_own_option_is_checked_by_the_action_and_never_reaches_the_module(tmp_path):
    """OWN_OPTIONS (mi_systemd_service's mi_missing): a value not allowed fails the task, naming
    the option, before any command; a task the module answers gets its arguments without the
    option (the module would refuse it as an unsupported parameter)."""
    out = tmp_path / "out.json"
    runs = run_play(tmp_path, OWN_OPTION_PLAY.format(out=out))
    results = json.loads(out.read_text())
    assert results["bad"]["failed"] and results["bad"]["msg"] == "mi_missing: must be one of fail, skip, not 'perhaps'"
    assert runs.get("A value the option does not allow", 0) == 0
    assert runs["A task only the module answers (restarted), with the option"] == 1
    assert results["module"]["failed"]  # no systemd here, or no such unit: the module's own failure
    assert "mi_missing" not in json.dumps(results["module"]["msg"]), results["module"]
