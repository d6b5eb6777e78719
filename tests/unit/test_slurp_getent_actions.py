"""mi_slurp and mi_getent (action_plugins/): ansible.builtin.slurp and getent answered by one
shell command instead of a module run. Each action is run by ansible-playbook on this machine
side by side with the builtin on the same files and databases; the results must be equal."""

import base64
from pathlib import Path

import pytest
from conftest import side_by_side

import mi_getent
import mi_slurp

SLURP = {
    "file": "{src: '{t}/state.json'}",
    "path_alias": "{path: '{t}/state.json'}",
    "empty": "{src: '{t}/empty'}",
    "binary": "{src: '{t}/binary'}",
    "proc": "{src: /proc/sys/kernel/ostype}",
    "link": "{src: '{t}/link'}",
    "missing": "{src: '{t}/none.json'}",  # the module's error (and its exception)
    "directory": "{src: '{t}'}",
    "home": "{src: '~/none.json'}",  # the module expands it
}
SLURP_MODULE = {"missing", "directory", "home"}

GETENT = {
    "passwd": "{database: passwd}",
    "group_key": "{database: group, key: root}",
    "shadow_files": "{database: shadow, service: files}",
    "missing_key_no_fail": "{database: passwd, key: mi-nobody-here, fail_key: false}",
    "missing_key": "{database: passwd, key: mi-nobody-here}",  # fails: the module's message
    "services_whitespace": "{database: services, key: ssh}",
    "custom_split": "{database: passwd, key: root, split: 'o'}",
    "unknown_database": "{database: mi-none}",
}
GETENT_MODULE = {"missing_key", "unknown_database"}


def _tree(t: Path) -> None:
    t.mkdir(exist_ok=True)
    (t / "state.json").write_text('{"result": "ok", "at": "2026-11-24T08:00:00Z"}\n')
    (t / "empty").write_bytes(b"")
    (t / "binary").write_bytes(bytes(range(256)) * 3 + b"\n\r\n")
    if not (t / "link").is_symlink():
        (t / "link").symlink_to(t / "state.json")


@pytest.mark.parametrize("flags", [(), ("--check",)], ids=["converge", "check_mode"])
def test_mi_slurp_returns_what_slurp_returns(tmp_path, flags):
    t = tmp_path / "t"
    _tree(t)
    cases = {n: a.replace("{t}", str(t)) for n, a in SLURP.items()}
    results, runs = side_by_side(tmp_path, cases, "mi_slurp", "ansible.builtin.slurp", *flags,
                                 keys="\n      failed_when: false")
    for name in SLURP:
        assert results[f"MI {name}"] == results[f"BUILTIN {name}"], name
    assert base64.b64decode(results["MI binary"]["content"]) == (t / "binary").read_bytes()
    assert results["MI missing"]["msg"].startswith("File not found")
    assert {n for n in SLURP if runs.get(f"MI {n}", 0) == 0} == set(SLURP) - SLURP_MODULE, runs


@pytest.mark.parametrize("flags", [(), ("--check",)], ids=["converge", "check_mode"])
def test_mi_getent_returns_what_getent_returns(tmp_path, flags):
    results, runs = side_by_side(tmp_path, GETENT, "mi_getent", "ansible.builtin.getent", *flags,
                                 keys="\n      failed_when: false")
    for name in GETENT:
        assert results[f"MI {name}"] == results[f"BUILTIN {name}"], name
    assert results["MI passwd"]["ansible_facts"]["getent_passwd"]["root"][1] == "0"
    assert results["MI missing_key_no_fail"]["ansible_facts"]["getent_passwd"] == {"mi-nobody-here": None}
    assert {n for n in GETENT if runs.get(f"MI {n}", 0) == 0} == set(GETENT) - GETENT_MODULE, runs


@pytest.mark.parametrize("args", [{"src": "relative"}, {"src": "$HOME/x"}, {"src": "/a", "path": "/b"}, {}])
def test_mi_slurp_sends_anything_else_to_the_module(args):
    assert mi_slurp.source_of(args) is None


@pytest.mark.parametrize("stdout", ["", "@mi-slurp\n", "@mi-slurp\nnot base64!\n@mi-slurp-end\n",
                                    "@mi-slurp\nQUJD\n", "@mi-slurp\nQUJ\n@mi-slurp-end\n"])
def test_mi_slurp_takes_no_answer_it_cannot_read(stdout):
    assert mi_slurp.judge("/x", stdout) is None


@pytest.mark.parametrize("stdout", ["", "root:x:0:0\n", "root:x\n\n@mi-getent-rc 1\n", "\n@mi-getent-rc 2\n",
                                    "a\r\n\n@mi-getent-rc 0\n"])
def test_mi_getent_takes_no_answer_it_cannot_read(stdout):
    assert mi_getent.judge(mi_getent.request({"database": "passwd", "key": "root"}), stdout) is None


def test_mi_getent_keeps_duplicate_keys_as_the_module_does():
    req = mi_getent.request({"database": "hosts"})
    out = "127.0.0.1 localhost\n127.0.0.1 localhost.localdomain\n::1 localhost\n\n@mi-getent-rc 0\n"
    facts = mi_getent.judge(req, out)["ansible_facts"]["getent_hosts"]
    assert facts == {"127.0.0.1": [["localhost"], ["localhost.localdomain"]], "::1": ["localhost"]}
