"""mi_copy and mi_template: ansible.builtin.copy and template, minus the file module's run for
a file already in place (action_plugins/mi_copy.py). The shortcut is judged by a pure
function; the actions are run by ansible-playbook against this machine, side by side with
the builtins, on the same files."""

import grp
import hashlib
import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest
from conftest import run_play, side_by_side

import mi_copy
import mi_file


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


def _shell_stat(path: Path) -> dict | None:
    command = mi_copy.stat_command(str(path))
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, check=True).stdout
    return mi_copy.parse_stat(out, str(path))


def test_the_shell_stat_of_a_regular_file_is_the_stat_modules(tmp_path):
    f = tmp_path / "it's a file"  # a quote and a space in the name
    f.write_bytes(b"x = 1\n")
    f.chmod(0o4751)
    s = os.stat(f)
    assert _shell_stat(f) == {
        "exists": True, "path": str(f), "mode": "4751", "isdir": False, "isreg": True, "islnk": False,
        "uid": s.st_uid, "gid": s.st_gid, "size": 6, "pw_name": pwd.getpwuid(s.st_uid).pw_name,
        "gr_name": grp.getgrgid(s.st_gid).gr_name, "checksum": hashlib.sha1(b"x = 1\n").hexdigest()}


def test_the_shell_stat_of_an_absent_path_is_the_stat_modules(tmp_path):
    assert _shell_stat(tmp_path / "none") == {"exists": False, "checksum": "1"}
    assert _shell_stat(tmp_path / "none" / "deeper") == {"exists": False, "checksum": "1"}


def test_links_directories_and_odd_paths_go_to_the_stat_module(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    (tmp_path / "file").write_text("x")
    assert _shell_stat(tmp_path / "link") is None
    assert _shell_stat(tmp_path) is None
    assert _shell_stat(tmp_path / "file" / "below") is None  # not a directory: the module fails as it will
    assert mi_copy.stat_command("relative/path") is None
    assert mi_copy.stat_command("/a\nb") is None


@pytest.mark.parametrize("output", [
    "", "@end", "@stat 81a4 0 0 6 root root\n@end",  # no checksum
    "@stat 81a4 0 0 6 root root\n@sha1 \n@end",  # unreadable
    "@stat 81a4 0 0 6 UNKNOWN root\n@sha1 " + "a" * 40 + "  -\n@end",  # an owner without a name
    "@stat 81a4 0 0 6 root root\n@sha1 " + "a" * 40 + "  -",  # cut short
    "@stat 41ed 0 0 6 root root\n@sha1 " + "a" * 40 + "  -\n@end",  # a directory
    "@stat zz 0 0 6 root root\n@sha1 " + "a" * 40 + "  -\n@end",
])
def test_any_other_output_goes_to_the_stat_module(output):
    assert mi_copy.parse_stat(output, "/etc/x") is None


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


def _play(tmp_path: Path, action: str, mode: str, *flags: str, execs: dict | None = None
          ) -> tuple[list[dict], list[int]]:
    src = tmp_path / "src.j2"
    src.write_text("line {{ 6 * 7 }}\n")
    runs = run_play(tmp_path, PLAY.format(mi=f"mi_{action}", builtin=f"ansible.builtin.{action}", src=src,
                                          dest=tmp_path / "out.conf", mode=mode, results=tmp_path / "results.json"),
                    *flags, execs=execs)
    return json.loads((tmp_path / "results.json").read_text()), [runs.get("MI", 0), runs.get("BUILTIN", 0)]


@pytest.mark.parametrize("action", ["template", "copy"])
@pytest.mark.parametrize("flags", [(), ("--diff",)])
def test_the_actions_return_what_the_builtins_return_with_one_module_run_less(tmp_path, action, flags):
    first, _ = _play(tmp_path, action, "0640", *flags)  # creates out.conf
    assert first[0]["changed"] and not first[1]["changed"]
    again, runs = _play(tmp_path, action, "0640", *flags)
    assert again[0] == again[1], "the result differs from the builtin's"
    assert not again[0]["changed"]
    assert runs == [0, 2], f"module runs (mi, builtin): {runs}"  # a shell stat only, against stat + file


@pytest.mark.parametrize("action", ["template", "copy"])
@pytest.mark.parametrize("flags", [(), ("--check",)])
def test_a_file_in_place_is_one_command_without_a_temporary_directory(tmp_path, action, flags):
    """The builtin makes the terminal's temporary directory first (its home, mkdir, then rm):
    the action only when it sends the file."""
    _play(tmp_path, action, "0640")
    execs: dict[str, int] = {}
    again, _ = _play(tmp_path, action, "0640", *flags, execs=execs)
    assert again[0] == again[1] and not again[0]["changed"]
    assert execs["MI"] == 1, execs
    assert execs["BUILTIN"] >= 4, execs
    assert not list((Path.home() / ".ansible" / "tmp").glob("ansible-tmp-*")), "a temporary directory was left"


@pytest.mark.parametrize("action", ["template", "copy"])
def test_a_wrong_mode_is_drift_in_check_mode_and_mended_in_a_converge(tmp_path, action):
    _play(tmp_path, action, "0640")
    out = tmp_path / "out.conf"
    out.chmod(0o644)
    checked, runs = _play(tmp_path, action, "0640", "--check")
    assert checked[0]["changed"] and checked[1]["changed"]
    assert runs == [1, 2]  # the stat shows the wrong mode: the file module judges it
    assert out.stat().st_mode & 0o777 == 0o644, "check mode changed the mode"
    mended, _ = _play(tmp_path, action, "0600")
    assert mended[0]["changed"] and not mended[1]["changed"]
    assert out.stat().st_mode & 0o777 == 0o600


# mi_file: each case once through mi_file and once through ansible.builtin.file, on the same path
FILE_CASES = {
    "dir_in_place": "{path: '{d}', state: directory, owner: root, group: '0', mode: '0755'}",
    "file_in_place": "{path: '{f}', mode: '0640'}",
    "dir_no_state": "{path: '{d}', owner: root, mode: '0755'}",  # the module takes the path's own state
    "absent": "{path: '{d}/none', state: absent}",
    "dir_wrong_mode": "{path: '{d}', state: directory, mode: '0700'}",
    "dir_missing": "{path: '{d}/new', state: directory, mode: '0755'}",
    "file_is_a_dir": "{path: '{d}', state: file}",
    "symbolic_mode": "{path: '{f}', mode: 'u=rw,g=r'}",
    "present_not_absent": "{path: '{f}', state: absent}",
    "link": "{path: '{link}', state: directory}",
}


def _file_play(tmp_path: Path, *flags: str) -> tuple[dict, dict]:
    d = tmp_path / "d"
    d.mkdir(mode=0o755, exist_ok=True)
    d.chmod(0o755)
    f = tmp_path / "f"
    f.write_text("x")
    f.chmod(0o640)
    if not (tmp_path / "link").is_symlink():
        (tmp_path / "link").symlink_to(d)
    cases = {name: args.replace("{d}", str(d)).replace("{f}", str(f)).replace("{link}", str(tmp_path / "link"))
             for name, args in FILE_CASES.items()}
    # file_is_a_dir fails, as it must, both ways
    return side_by_side(tmp_path, cases, "mi_file", "ansible.builtin.file", *flags, keys="\n      ignore_errors: true")


@pytest.mark.parametrize("flags", [("--check",), ("--check", "--diff"), ()])
def test_mi_file_returns_what_the_file_module_returns_and_runs_it_only_when_it_must(tmp_path, flags):
    results, runs = _file_play(tmp_path, *flags)
    for name in FILE_CASES:
        mi, builtin = results[f"MI {name}"], results[f"BUILTIN {name}"]
        mi.pop("invocation", None)  # the module's echo of its arguments (-vvv); none without a module run
        builtin.pop("invocation", None)
        if "--check" in flags:
            assert mi == builtin, name
        else:  # mi_file ran first and mended; the builtin after it finds nothing to do
            assert mi["changed"] == (name in {"dir_wrong_mode", "dir_missing", "present_not_absent"}), name
            assert not builtin["changed"], name
    answered = {"dir_in_place", "file_in_place", "dir_no_state", "absent"}
    assert {n for n in FILE_CASES if runs.get(f"MI {n}", 0) == 0} == answered, runs
    assert all(runs.get(f"BUILTIN {n}") == 1 for n in FILE_CASES), runs


@pytest.mark.parametrize("args", [
    {"path": "relative", "state": "directory"},
    {"path": "/x", "state": "link", "src": "/y"},
    {"path": "/x", "state": "touch"},
    {"path": "/x", "state": "directory", "recurse": True},
    {"path": "/x", "state": "directory", "mode": "u+rwx"},
    {"path": "/x", "state": "directory", "attributes": "+i"},
    {"path": "/x", "modification_time": "now"},
])
def test_mi_file_sends_anything_else_to_the_module(args):
    assert mi_file.query_command(args) is None


@pytest.mark.parametrize(("args", "output"), [
    ({"path": "/x", "state": "directory"}, "@stat 41ed 0 0 4096 root root"),  # cut short
    ({"path": "/x", "state": "directory"}, "@stat 41ed 0 0 4096 UNKNOWN root\n@end"),
    ({"path": "/x", "state": "directory"}, "@stat a1ff 0 0 4 root root\n@end"),  # a link
    ({"path": "/x", "state": "directory", "owner": "mi"}, "@stat 41ed 0 0 4096 root root\n@end"),
    ({"path": "/x", "state": "directory", "group": "1000"}, "@stat 41ed 0 0 4096 root root\n@end"),
    ({"path": "/x", "state": "file"}, "@absent\n@end"),
    ({"path": "/x", "state": "absent"}, "@end"),  # stat failed otherwise (permission): the module says why
])
def test_mi_file_judges_nothing_it_is_not_sure_of(args, output):
    assert mi_file.judge(args, output) is None
