"""A loop of a one-command action is read in one round trip (action_plugins/mi_one_command.py):
the outputs taken from the batch are each command's own, the results are the builtin's, and
nothing kept from the batch is used after an item ran the module."""

import json
import subprocess
from pathlib import Path

import pytest

from conftest import assert_same_results, run_play, side_by_side
from mi_one_command import batch_command, batch_outputs

COMMANDS = [
    "printf 'a\\nb\\n'",
    "printf 'no final newline'",
    "true",
    "printf 'x\\n'; exit 3",
    "printf '\\n\\n'",
    "printf '@Bdeadbeef 0\\n\\n@Edeadbeef 0 0\\n'",  # another batch's markers, as data
    "read line; echo \"stdin: [$line]\"",  # no stdin in a batch: what the action sends is one empty line
]


def _alone(command: str) -> dict:
    proc = subprocess.run(["/bin/sh", "-c", command], input="", capture_output=True, text=True, check=False)
    return {"stdout": proc.stdout, "stderr": proc.stderr, "rc": proc.returncode}


def test_each_commands_output_in_a_batch_is_its_own():
    token = "0123456789ab"
    proc = subprocess.run(["/bin/sh", "-c", batch_command(COMMANDS, token)], capture_output=True, text=True,
                          check=False)
    outputs = batch_outputs(COMMANDS, token, {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr})
    assert outputs == {c: _alone(c) for c in COMMANDS}


@pytest.mark.parametrize("out", [
    {"rc": 0, "stdout": "", "stderr": "stat: cannot statx\n"},  # anything on stderr: nothing is kept
    {"rc": 1, "stdout": "", "stderr": ""},  # sudo or the shell failed
    {"rc": 0, "stdout": "@Bt 0\nx\n@Et 0 0\n", "stderr": ""},  # an item's markers are missing
])
def test_a_batch_that_is_not_clean_keeps_nothing(out):
    assert batch_outputs(["a", "b"], "t", out) == {}


def test_a_batch_ends_with_ssh_closing_its_connection():
    out = {"rc": 0, "stdout": "@Bt 0\nx\n@Et 0 0\n", "stderr": "Shared connection to 10.0.0.5 closed.\r\n"}
    assert batch_outputs(["a"], "t", out) == {"a": {"stdout": "x", "stderr": "", "rc": 0}}


def _tree(tmp_path: Path) -> dict[str, str]:
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True, exist_ok=True)
    for name in ("a", "b"):
        (d / name).write_text(name)
        (d / name).chmod(0o640)
    if not (d / "link").is_symlink():
        (d / "link").symlink_to(d / "a")
    (d / "t.j2").write_text("{{ item.text }}")
    return {"d": str(d)}


LOOPS = {
    "stat": ("mi_stat", "ansible.builtin.stat", "{path: '{{ item }}', get_mime: false, get_attributes: false}",
             "['{d}/a', '{d}/sub', '{d}/missing', '{d}/link', '{d}/a']"),
    "file": ("mi_file", "ansible.builtin.file",
             "{path: '{{ item.path }}', state: '{{ item.state }}', mode: '{{ item.mode | default(omit) }}'}",
             "[{path: '{d}/a', state: file, mode: '0640'}, {path: '{d}/sub', state: directory},"
             " {path: '{d}/missing', state: absent}]"),
    "template": ("mi_template", "ansible.builtin.template",
                 "{src: '{d}/t.j2', dest: '{{ item.dest }}', mode: '0640'}",
                 "[{dest: '{d}/a', text: a}, {dest: '{d}/b', text: changed}, {dest: '{d}/missing', text: new},"
                 " {dest: '{d}/a', text: a}]"),
    "copy": ("mi_copy", "ansible.builtin.copy", "{content: '{{ item.text }}', dest: '{{ item.dest }}', mode: '0640'}",
             "[{dest: '{d}/a', text: a}, {dest: '{d}/b', text: b}, {dest: '{d}/missing', text: new}]"),
}


def _assert_same_items(results: dict, name: str) -> None:
    """The loop's item results through the action equal the builtin's, but for what reading
    a file moves or a fresh rendering names."""
    for kind in ("MI", "BUILTIN"):
        for item in results[f"{kind} {name}"]["results"]:
            item.get("stat", {}).pop("atime", None)  # the first checksum read (MI's) moves it
            if name == "template" and item.get("changed"):
                item.pop("checksum", None)  # of a rendered temporary file each
    assert_same_results(results, [name])


@pytest.mark.parametrize("strategy", ["linear", "mitogen_linear"])
@pytest.mark.parametrize("name", sorted(LOOPS))
def test_a_loop_in_check_mode_is_one_round_trip_with_the_builtins_results(tmp_path, name, strategy):
    mi, builtin, args, loop = LOOPS[name]
    d = _tree(tmp_path)["d"]
    args, loop = args.replace("{d}", d), loop.replace("{d}", d)
    execs: dict[str, int] = {}
    results, runs = side_by_side(tmp_path, {name: args}, mi, builtin, "--check", keys=f"\n      loop: {loop}",
                                 execs=execs, strategy=strategy)
    _assert_same_items(results, name)
    assert len(results[f"MI {name}"]["results"]) >= 3
    if strategy == "linear":  # mitogen logs neither module payloads nor commands the same way
        assert runs.get(f"MI {name}", 0) == 0, runs
        assert execs[f"MI {name}"] == 1, execs  # every item from one command


CONVERGE = """
- name: a loop whose first item changes what the second would read
  hosts: all
  gather_facts: false
  tasks:
    - name: {kind}
      {action}: {{path: '{{{{ item.path }}}}', state: '{{{{ item.state }}}}', mode: '{{{{ item.mode | default(omit) }}}}'}}
      loop: [{{path: '{root}/p', state: absent}}, {{path: '{root}/p/q', state: directory, mode: '0755'}}]
      register: r
    - name: KEEP {kind}
      ansible.builtin.copy:
        content: "{{{{ r | to_json }}}}"
        dest: "{out}"
        mode: "0600"
"""


def test_nothing_kept_is_used_after_an_item_ran_the_module(tmp_path):
    """p/q exists when the loop starts, so the batch reads it in place; the first item removes p,
    and the second must then create p/q again, as the builtin does."""
    results = {}
    for kind, action in (("MI", "mi_file"), ("BUILTIN", "ansible.builtin.file")):
        root = tmp_path / kind
        (root / "p" / "q").mkdir(parents=True)
        (root / "p" / "q").chmod(0o755)
        out = tmp_path / f"{kind}.json"
        run_play(tmp_path, CONVERGE.format(kind=kind, action=action, root=root, out=out))
        text = out.read_text().replace(str(root), "ROOT")
        results[kind] = [{k: v for k, v in r.items() if k != "invocation"} for r in json.loads(text)["results"]]
        assert (root / "p" / "q").is_dir()
    assert [r["changed"] for r in results["MI"]] == [True, True]
    assert results["MI"] == results["BUILTIN"]


def test_a_loop_that_may_run_each_item_elsewhere_is_not_batched(tmp_path):
    """delegate_to (or become_user, remote_user...) on the task: each item's own command."""
    d = _tree(tmp_path)["d"]
    execs: dict[str, int] = {}
    args = "{path: '{{ item }}', get_mime: false, get_attributes: false}"
    results, _ = side_by_side(tmp_path, {"stat": args}, "mi_stat", "ansible.builtin.stat", "--check",
                              keys=f"\n      loop: ['{d}/a', '{d}/b']\n      delegate_to: localhost", execs=execs)
    assert execs["MI stat"] == 2, execs


def test_an_item_the_batch_cannot_judge_leaves_each_item_to_itself(tmp_path):
    """An item whose arguments only its own run can make sense of (here a path that is not a
    string until the item is skipped) stops the batch, not the task."""
    d = _tree(tmp_path)["d"]
    execs: dict[str, int] = {}
    args = "{path: '{{ item.path }}', get_mime: false, get_attributes: false}"
    loop = f"[{{path: '{d}/a'}}, {{nopath: 1}}]\n      when: item.path is defined"
    results, _ = side_by_side(tmp_path, {"stat": args}, "mi_stat", "ansible.builtin.stat", "--check",
                              keys=f"\n      loop: {loop}", execs=execs)
    _assert_same_items(results, "stat")
    assert execs["MI stat"] == 1, execs
