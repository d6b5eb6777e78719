"""mi_find (action_plugins/): ansible.builtin.find's loop in a bare Python of the terminal.
Run by ansible-playbook on this machine side by side with the builtin on the same tree; the
results must be equal and only the cases that need the module run it."""

import os
from pathlib import Path

import pytest
from conftest import assert_same_results, side_by_side

import mi_find

FIND = {
    "files": "{paths: '{t}'}",
    "hidden": "{paths: '{t}', hidden: true}",
    "any_hidden": "{paths: ['{t}/etc', '{t}/ssh'], patterns: [shadow, sshd_config, passwd], file_type: any,"
                  " hidden: true}",
    "comma_patterns": "{path: '{t}', patterns: '*.list,*.sources', excludes: mi-harden.sources}",
    "directories": "{paths: '{t}', file_type: directory, recurse: true}",
    "links": "{paths: '{t}', file_type: link}",
    "recurse_depth": "{paths: '{t}', recurse: true, depth: 2, patterns: report.json}",
    "recurse_all": "{paths: '{t}', recurse: true, hidden: true, file_type: any}",
    "empty": "{paths: '{t}/empty'}",
    "not_a_directory": "{paths: '{t}/a.list'}",  # the module warns
    "missing": "{paths: ['{t}/none', '{t}']}",  # the module warns
    "contains": "{paths: '{t}', contains: x}",
    "home": "{paths: '~'}",  # the module expands it
}
MODULE = {"not_a_directory", "missing", "contains", "home"}


def _tree(t: Path) -> None:
    for d in ("etc", "ssh", "empty", "spool/a/b", ".hid"):
        (t / d).mkdir(parents=True, exist_ok=True)
    for f, text in (("a.list", "deb x"), ("b.sources", "Types: deb"), ("mi-harden.sources", "mine"), (".h.list", "x"),
                    ("etc/shadow", "root:*"), ("etc/passwd", "root:x"), ("ssh/sshd_config", "Port 22"),
                    ("spool/report.json", "{}"), ("spool/a/report.json", "{}"), ("spool/a/b/report.json", "{}"),
                    (".hid/report.json", "{}")):
        (t / f).write_text(text)
    (t / "etc/shadow").chmod(0o640)
    if not (t / "link").is_symlink():
        (t / "link").symlink_to(t / "etc/passwd")
        (t / "dangling").symlink_to(t / "none")
    for root, dirs, names in os.walk(t):  # read every directory once: the runs below leave atimes alone
        pass


@pytest.mark.parametrize("flags", [(), ("--check",)], ids=["converge", "check_mode"])
def test_mi_find_returns_what_find_returns(tmp_path, flags):
    t = tmp_path / "t"
    _tree(t)
    cases = {n: a.replace("{t}", str(t)) for n, a in FIND.items()}
    results, runs = side_by_side(tmp_path, cases, "mi_find", "ansible.builtin.find", *flags,
                                 keys="\n      failed_when: false")
    assert_same_results(results, FIND)
    found = {Path(f["path"]).name for f in results["MI comma_patterns"]["files"]}
    assert found == {"a.list", "b.sources"}
    assert results["MI recurse_depth"]["matched"] == 2  # spool/report.json and spool/a/report.json
    assert {n for n in FIND if runs.get(f"MI {n}", 0) == 0} == set(FIND) - MODULE, runs


@pytest.mark.parametrize("args", [
    {"paths": "/x", "contains": "y"}, {"paths": "/x", "use_regex": True}, {"paths": "/x", "age": "1d"},
    {"paths": "/x", "file_type": "fifo"}, {"paths": "x"}, {"paths": "/$HOME"}, {"paths": "/x", "path": "/y"},
    {"paths": "/x", "depth": "deep"}, {"paths": "/x", "hidden": "maybe"}, {}, {"paths": [1]},
    {"paths": "/x", "follow": False}, {"paths": "/x", "get_checksum": True},
])
def test_anything_else_goes_to_the_module(args):
    assert mi_find.request(args) is None


@pytest.mark.parametrize("stdout", ["", "{}", '{"fallback": "not a directory"}', '{"files": {}, "examined": 1}',
                                    '{"files": [], "examined": "1"}', "not json"])
def test_an_answer_it_cannot_read_goes_to_the_module(stdout):
    assert mi_find.judge(stdout) is None
