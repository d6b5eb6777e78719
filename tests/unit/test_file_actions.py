"""mi_copy and mi_template: ansible.builtin.copy and template, minus the file module's run for
a file already in place (action_plugins/mi_copy.py). The shortcut is judged by a pure
function; the actions are run by ansible-playbook against this machine, side by side with
the builtins, on the same files."""

import json
from pathlib import Path

import pytest
from conftest import run_play

import mi_copy


STAT = {"path": "/etc/mi/x.conf", "exists": True, "isreg": True, "islnk": False, "uid": 0, "gid": 4,
        "pw_name": "root", "gr_name": "adm", "mode": "0640", "size": 12}
ARGS = {"dest": "/etc/mi/x.conf", "_original_basename": "x.conf.j2", "recurse": False, "state": "file",
        "mode": "0640", "owner": "root", "group": "adm", "follow": False}


def test_a_file_in_place_is_answered_as_the_file_module_would():
    got = mi_copy.unchanged_file_result(STAT, ARGS)
    assert got == {"changed": False, "path": "/etc/mi/x.conf", "state": "file", "uid": 0, "gid": 4,
                   "owner": "root", "group": "adm", "mode": "0640", "size": 12}
    assert mi_copy.unchanged_file_result(STAT, ARGS, diff=True)["diff"] == {
        "before": {"path": "/etc/mi/x.conf"}, "after": {"path": "/etc/mi/x.conf"}}


@pytest.mark.parametrize("args", [
    {"mode": 0o640}, {"mode": "640"}, {"owner": "0", "group": 4}, {"owner": None, "group": None, "mode": None},
    {"attributes": None, "setype": None},  # asked for nothing: unset
])
def test_the_same_attributes_in_other_spellings_are_in_place(args):
    assert mi_copy.unchanged_file_result(STAT, dict(ARGS, **args)) is not None


@pytest.mark.parametrize(("stat", "args"), [
    ({}, {"mode": "0644"}),  # another mode
    ({}, {"mode": "u=rw,g=r"}),  # a symbolic mode: only the module can judge it
    ({}, {"owner": "mi"}),
    ({}, {"group": "root"}),
    ({}, {"owner": "1000"}),
    ({}, {"attributes": "+i"}),  # chattr: the stat does not show it
    ({}, {"setype": "etc_t"}),  # SELinux context: neither
    ({}, {"state": "directory"}),
    ({}, {"recurse": True}),
    ({}, {"dest": "/etc/mi"}),  # a directory destination: the module appends the name
    ({"islnk": True}, {}),
    ({"isreg": False}, {}),
    ({"exists": False}, {}),
])
def test_anything_else_goes_to_the_file_module(stat, args):
    assert mi_copy.unchanged_file_result(dict(STAT, **stat), dict(ARGS, **args)) is None


PLAY = """
- name: The project's actions and the builtins on the same files
  hosts: all
  gather_facts: false
  tasks:
    - name: MI
      {mi}: {{src: "{src}", dest: "{dest}", mode: "{mode}"}}
      register: mi
    - name: BUILTIN
      {builtin}: {{src: "{src}", dest: "{dest}", mode: "{mode}"}}
      register: builtin
    - name: RESULTS
      ansible.builtin.copy:
        content: "{{{{ [mi, builtin] | to_json }}}}"
        dest: "{results}"
        mode: "0600"
      check_mode: false
"""


def _play(tmp_path: Path, action: str, mode: str, *flags: str) -> tuple[list[dict], list[int]]:
    src = tmp_path / "src.j2"
    src.write_text("line {{ 6 * 7 }}\n")
    runs = run_play(tmp_path, PLAY.format(mi=f"mi_{action}", builtin=f"ansible.builtin.{action}", src=src,
                                          dest=tmp_path / "out.conf", mode=mode, results=tmp_path / "results.json"),
                    *flags)
    return json.loads((tmp_path / "results.json").read_text()), [runs.get("MI", 0), runs.get("BUILTIN", 0)]


@pytest.mark.parametrize("action", ["template", "copy"])
@pytest.mark.parametrize("flags", [(), ("--diff",)])
def test_the_actions_return_what_the_builtins_return_with_one_module_run_less(tmp_path, action, flags):
    first, _ = _play(tmp_path, action, "0640", *flags)  # creates out.conf
    assert first[0]["changed"] and not first[1]["changed"]
    again, runs = _play(tmp_path, action, "0640", *flags)
    assert again[0] == again[1], "the result differs from the builtin's"
    assert not again[0]["changed"]
    assert runs == [1, 2], f"module runs (mi, builtin): {runs}"  # stat only, against stat + file


@pytest.mark.parametrize("action", ["template", "copy"])
def test_a_wrong_mode_is_drift_in_check_mode_and_mended_in_a_converge(tmp_path, action):
    _play(tmp_path, action, "0640")
    out = tmp_path / "out.conf"
    out.chmod(0o644)
    checked, runs = _play(tmp_path, action, "0640", "--check")
    assert checked[0]["changed"] and checked[1]["changed"]
    assert runs == [2, 2]  # the stat shows the wrong mode: the file module judges it
    assert out.stat().st_mode & 0o777 == 0o644, "check mode changed the mode"
    mended, _ = _play(tmp_path, action, "0600")
    assert mended[0]["changed"] and not mended[1]["changed"]
    assert out.stat().st_mode & 0o777 == 0o600
