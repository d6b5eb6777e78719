"""mi_command: ansible.builtin.command for read-only commands without Python on the terminal
(action_plugins/mi_command.py). The pure parts are tested alone; the action is run by
ansible-playbook against this machine, side by side with the builtin, on the same commands."""

import re
from pathlib import Path

import pytest
from conftest import side_by_side

import mi_command

# each case once through mi_command and once through ansible.builtin.command
CASES = {
    "argv": "{argv: [printf, 'a b\\n\\nc\\n\\n']}",
    "cmd": "{cmd: \"sh -c 'echo out; echo err >&2; echo more err >&2'\"}",
    "fails": "{cmd: \"sh -c 'echo why >&2; exit 3'\"}",
    "stderr_without_newline": "{argv: [sh, -c, 'printf \"no newline\" >&2']}",
    "quoted": "{cmd: \"printf '%s|' \\\"it's\\\" \\\"two words\\\"\"}",
    "not_found": "{argv: [/nonexistent/program]}",
    "variable": "{argv: [echo, $HOME]}",
    "script_unexpanded": "{argv: [bash, -c, 'set -o pipefail; x=$$; [ \"$x\" -gt 1 ] && echo \"~ $HOME\" | tr a-z A-Z'],"
                         " expand_argument_vars: false}",
    "chdir": "{cmd: pwd, chdir: /}",
}
ANSWERED = {"argv", "cmd", "fails", "stderr_without_newline", "quoted", "script_unexpanded"}
TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$")


def _play(tmp_path: Path, *flags: str, strategy: str = "linear") -> tuple[dict, dict]:
    keys = "\n      changed_when: false\n      check_mode: false\n      ignore_errors: true"
    return side_by_side(tmp_path, CASES, "mi_command", "ansible.builtin.command", *flags, keys=keys, strategy=strategy)


@pytest.mark.parametrize(("flags", "strategy"), [((), "linear"), (("--check",), "linear"), ((), "mitogen_linear")])
def test_mi_command_returns_what_the_command_module_returns_without_running_it(tmp_path, flags, strategy):
    results, runs = _play(tmp_path, *flags, strategy=strategy)
    for name in CASES:
        mi, builtin = results[f"MI {name}"], results[f"BUILTIN {name}"]
        for r in (mi, builtin):
            r.pop("invocation", None)  # the module's echo of its arguments (-vvv)
            if name in ANSWERED:  # the times of two runs differ; their form must not
                assert TIME.match(r.pop("start")) and TIME.match(r.pop("end")), name
                assert re.match(r"^\d+:\d\d:\d\d\.\d{6}$", r.pop("delta")), name
            else:
                for key in ("start", "end", "delta"):
                    r.pop(key, None)
        assert mi == builtin, name
    assert results["MI argv"]["stdout"] == "a b\n\nc"
    assert results["MI cmd"]["stderr"] == "err\nmore err"
    assert results["MI fails"]["failed"] and results["MI fails"]["rc"] == 3
    assert results["MI stderr_without_newline"]["stderr"] == "no newline"
    assert results["MI quoted"]["stdout"] == "it's|two words|"
    assert results["MI script_unexpanded"]["stdout"] == "~ /ROOT", results["MI script_unexpanded"]  # bash expanded
    if strategy != "linear":
        return  # mitogen runs modules in its own interpreter: no Python start to count
    assert {n for n in CASES if runs.get(f"MI {n}", 0) == 0} == ANSWERED, runs
    assert all(runs.get(f"BUILTIN {n}") == 1 for n in CASES), runs


@pytest.mark.parametrize("args", [
    {"cmd": "echo $HOME"}, {"argv": ["ls", "~root"]}, {"cmd": "true", "chdir": "/"}, {"cmd": "true", "creates": "/x"},
    {"cmd": "true", "removes": "/x"}, {"cmd": "cat", "stdin": "x"}, {"cmd": "true", "executable": "/bin/bash"},
    {"cmd": "true", "strip_empty_ends": False}, {"cmd": "true", "expand_argument_vars": "no"},
    {"cmd": "true", "argv": ["true"]}, {}, {"cmd": ""}, {"_raw_params": "true"},
])
def test_anything_the_module_alone_can_judge_goes_to_it(args):
    assert mi_command.argv_of(args) is None


@pytest.mark.parametrize("check", [False, True], ids=["converge", "check_mode"])
def test_creates_is_answered_only_when_the_path_exists(tmp_path, check):
    """A command with creates: when the path exists (a file, or a dangling link: glob's lexists)
    the module's "not run" result, without a module run; otherwise the module runs it. The
    command would leave a mark: nothing may run it when the path exists."""
    (tmp_path / "db").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    mark = tmp_path / "ran"
    cases = {
        "exists": f"{{argv: [touch, {mark}], creates: {tmp_path / 'db'}}}",
        "dangling_link": f"{{cmd: 'touch {mark}', creates: {tmp_path / 'dangling'}}}",
        "missing": f"{{argv: ['true'], creates: {tmp_path / 'none'}}}",
        "pattern": f"{{argv: ['true'], creates: '{tmp_path}/d*'}}",
        "relative": "{argv: ['true'], creates: db}",
    }
    results, runs = side_by_side(tmp_path, cases, "mi_command", "ansible.builtin.command",
                                 *(["--check"] if check else []))
    for name in cases:
        mi, builtin = results[f"MI {name}"], results[f"BUILTIN {name}"]
        for r in (mi, builtin):
            r.pop("invocation", None)
            if name == "missing" and not check:  # run by the module both times: the times differ
                assert TIME.match(r.pop("start")) and TIME.match(r.pop("end")) and r.pop("delta"), name
        assert mi == builtin, name
    would = "Would" if check else "Did"
    assert results["MI exists"]["msg"] == f"{would} not run command since '{tmp_path / 'db'}' exists"
    assert results["MI exists"]["changed"] is False and results["MI exists"]["cmd"] == ["touch", str(mark)]
    assert {n for n in cases if runs.get(f"MI {n}", 0) == 0} == {"exists", "dangling_link"}, runs
    assert not mark.exists()


def test_creates_with_anything_else_the_module_judges_goes_to_it():
    assert mi_command.creates_request({"cmd": "true", "creates": "/x", "chdir": "/"}, False) is None
    assert mi_command.creates_request({"cmd": "echo $HOME", "creates": "/x"}, False) is None
    assert mi_command.creates_request({"cmd": "true", "creates": "/x"}, True) == {
        "argv": ["true"], "creates": "/x", "check_mode": True}
    for stdout in ("", "@mi-command-absent\n", "@mi-command-exists", "noise\n@mi-command-exists\n"):
        assert mi_command.exists_answer({"argv": ["true"], "creates": "/x", "check_mode": False}, stdout) is None


def test_without_expansion_dollars_and_tildes_are_passed_as_they_are():
    assert mi_command.argv_of({"argv": ["sh", "-c", "echo $HOME ~"], "expand_argument_vars": False}) == \
        ["sh", "-c", "echo $HOME ~"]
    assert mi_command.argv_of({"cmd": "ls ~root", "expand_argument_vars": False}) == ["ls", "~root"]


START = "@mi-command-start 2026-11-24 05:00:00.000001"
END = "@mi-command-end 2026-11-24 05:00:01.500000 0"


@pytest.mark.parametrize("stderr", [
    "", START, END, f"{START}\n{START}\n\n{END}\n",  # a marker missing or twice
    f"{START}\n\n@mi-command-end 2026-11-24 05:00:01.500000 127\n",  # not found: the module says it its way
    f"{START}\n\n@mi-command-end 2026-11-24 05:00:01.500000 x\n",
    f"{START}\n\n@mi-command-end yesterday 0\n",
    f"{START}\nbad byte \ufffd\n{END}\n",  # undecodable output: the module's own decoding
])
def test_an_unexpected_answer_sends_the_command_to_the_module(stderr):
    assert mi_command.judge(["true"], "", stderr) is None


def test_noise_before_the_start_is_not_the_commands():
    got = mi_command.judge(["true"], "out\n", f"sudo: a warning\n{START}\nerr\n\n{END}\n")
    assert got == {"changed": True, "stdout": "out", "stderr": "err", "rc": 0, "cmd": ["true"],
                   "start": "2026-11-24 05:00:00.000001", "end": "2026-11-24 05:00:01.500000",
                   "delta": "0:00:01.499999", "msg": "", "stdout_lines": ["out"], "stderr_lines": ["err"]}


def test_what_ssh_and_mitogen_add_after_the_command_is_not_the_commands():
    got = mi_command.judge(["true"], "", f"{START}\n\n{END}\nShared connection to 10.0.0.9 closed.\r\n")
    assert got is not None and got["stderr"] == "" and got["rc"] == 0
