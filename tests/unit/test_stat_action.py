"""mi_stat: ansible.builtin.stat computed by a bare Python instead of a module run
(action_plugins/mi_stat.py). The action is run by ansible-playbook against this machine,
side by side with the builtin, on the same paths of every kind."""

import hashlib
import os
from pathlib import Path

import pytest
from conftest import side_by_side

import mi_stat

OFF = "get_mime: false, get_attributes: false"
CASES = {
    "file": "{path: '{t}/file', " + OFF + "}",
    "file_sha256": "{path: '{t}/file', checksum_algorithm: sha256, " + OFF + "}",
    "file_no_checksum": "{path: '{t}/file', get_checksum: false, " + OFF + "}",
    "setuid_0750": "{path: '{t}/setuid', " + OFF + "}",
    "directory": "{path: '{t}', " + OFF + "}",
    "link": "{path: '{t}/link', " + OFF + "}",
    "link_followed": "{path: '{t}/link', follow: true, " + OFF + "}",
    "dangling": "{path: '{t}/dangling', " + OFF + "}",
    "dangling_followed": "{path: '{t}/dangling', follow: true, " + OFF + "}",
    "absent": "{path: '{t}/none/deeper', " + OFF + "}",
    "char_device": "{path: /dev/null, " + OFF + "}",
    "fifo": "{path: '{t}/fifo', " + OFF + "}",
    "aliases": "{dest: '{t}/file', mime: no, attr: no}",
    "defaults": "{path: '{t}/file'}",  # file(1) and lsattr: the module
    "variable": "{path: '$HOME', " + OFF + "}",  # the module expands it
}
MODULE = {"defaults", "variable"}


def _tree(t: Path) -> None:
    (t / "file").write_bytes(b"policy 2026.11\n")
    (t / "setuid").write_bytes(b"")
    (t / "setuid").chmod(0o4750)
    if not (t / "link").is_symlink():
        (t / "link").symlink_to(t / "file")
        (t / "dangling").symlink_to(t / "nowhere")
        os.mkfifo(t / "fifo")
    for p in t.iterdir():  # atime after mtime: reading a file (its checksum) does not move it
        st = os.lstat(p)
        os.utime(p, (st.st_mtime + 100, st.st_mtime), follow_symlinks=False)


def _play(tmp_path: Path, *flags: str, strategy: str = "linear") -> tuple[dict, dict]:
    t = tmp_path / "t"
    t.mkdir(exist_ok=True)
    _tree(t)
    cases = {name: args.replace("{t}", str(t)) for name, args in CASES.items()}
    return side_by_side(tmp_path, cases, "mi_stat", "ansible.builtin.stat", *flags, strategy=strategy)


@pytest.mark.parametrize(("flags", "strategy"), [(("--check",), "linear"), ((), "mitogen_linear")])
def test_mi_stat_returns_what_the_stat_module_returns_without_a_module_run(tmp_path, flags, strategy):
    results, runs = _play(tmp_path, *flags, strategy=strategy)
    for name in CASES:
        mi, builtin = results[f"MI {name}"], results[f"BUILTIN {name}"]
        mi.pop("invocation", None)  # the module's echo of its arguments (-vvv)
        builtin.pop("invocation", None)
        assert mi == builtin, name
    assert results["MI file"]["stat"]["checksum"] == hashlib.sha1(b"policy 2026.11\n").hexdigest()
    assert results["MI file_sha256"]["stat"]["checksum"] == hashlib.sha256(b"policy 2026.11\n").hexdigest()
    assert "checksum" not in results["MI file_no_checksum"]["stat"]
    assert results["MI link"]["stat"]["islnk"] and results["MI link_followed"]["stat"]["isreg"]
    assert results["MI dangling_followed"]["stat"] == {"exists": False}
    assert results["MI char_device"]["stat"]["ischr"] and results["MI fifo"]["stat"]["isfifo"]
    if strategy == "linear":
        assert {n for n in CASES if runs.get(f"MI {n}", 0) == 0} == set(CASES) - MODULE, runs
        assert all(runs.get(f"BUILTIN {n}") == 1 for n in CASES), runs


@pytest.mark.parametrize("args", [
    {"path": "/x"},  # get_mime and get_attributes default to true
    {"path": "/x", "get_mime": False},
    {"path": "/x", "get_attributes": False},
    {"path": "relative", "get_mime": False, "get_attributes": False},
    {"path": "~root/x", "get_mime": False, "get_attributes": False},
    {"path": "/x", "get_mime": False, "get_attributes": False, "checksum_algorithm": "crc32"},
    {"path": "/x", "get_mime": False, "get_attributes": False, "follow": "perhaps"},
])
def test_mi_stat_sends_anything_else_to_the_module(args):
    assert mi_stat.request(args) is None


@pytest.mark.parametrize("stdout", ["", "not json", '{"error": "Permission denied"}', '{"stat": 1}'])
def test_mi_stat_takes_no_answer_it_cannot_read(stdout):
    assert mi_stat.judge(stdout) is None
