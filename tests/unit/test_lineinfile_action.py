"""mi_lineinfile (action_plugins/): ansible.builtin.lineinfile answered by reading the file when
the line is already there. Run by ansible-playbook on this machine side by side with the
builtin on the same files, in converge, check and diff mode; the results must be equal and
only the cases that need the module run it."""

from pathlib import Path

import pytest
from conftest import assert_same_results, side_by_side

import mi_lineinfile

DEFS = ("# login.defs\n#PASS_MAX_DAYS\t99999\nPASS_MAX_DAYS\t90\nPASS_MIN_DAYS 0\nUMASK\t\t027\n"
        "ENCRYPT_METHOD SHA512\r\nTAIL\tx")

# nothing here changes a file (safe to converge, so both sides read the same file)
SAFE = {
    "regexp_there": "{path: '{t}/defs', regexp: '^#?\\s*PASS_MAX_DAYS\\s', line: \"PASS_MAX_DAYS\\t90\"}",
    "dest_alias": "{dest: '{t}/defs', regexp: '^\\s*#?\\s*UMASK\\s', line: \"UMASK\\t\\t027\", state: present}",
    "line_only": "{path: '{t}/defs', line: 'PASS_MIN_DAYS 0'}",
    "regexp_misses_line_there": "{path: '{t}/defs', regexp: '^NOTHING', line: 'PASS_MIN_DAYS 0'}",
    "missing_file": "{path: '{t}/none', line: x}",
    "absent_missing_line": "{path: '{t}/defs', line: 'NOT THERE', state: absent}",
    "directory": "{path: '{t}', line: x}",
    "bad_regexp": "{path: '{t}/defs', regexp: '(', line: x}",
}
# in check mode only: the module would change the file
CHECK_ONLY = {
    "other_value": "{path: '{t}/defs', regexp: '^PASS_MAX_DAYS\\s', line: \"PASS_MAX_DAYS\\t30\"}",
    "missing_line": "{path: '{t}/defs', line: 'PASS_WARN_AGE 7'}",
    "crlf_line": "{path: '{t}/defs', regexp: '^ENCRYPT_METHOD', line: 'ENCRYPT_METHOD SHA512'}",
    "insertafter": "{path: '{t}/defs', line: 'NEW', insertafter: '^UMASK'}",
    "owner": "{path: '{t}/defs', line: 'PASS_MIN_DAYS 0', owner: root}",
    "latin1": "{path: '{t}/latin1', line: 'a=1'}",
    "last_line_without_newline": "{path: '{t}/defs', line: \"TAIL\\tx\"}",  # the module would add one
}
ANSWERED = {"regexp_there", "dest_alias", "line_only", "regexp_misses_line_there"}


def _files(t: Path) -> None:
    t.mkdir(exist_ok=True)
    (t / "defs").write_text(DEFS, newline="")
    (t / "latin1").write_bytes("é=2\na=1\n".encode("latin-1"))


@pytest.mark.parametrize(("flags", "cases"), [((), SAFE), (("--diff",), SAFE), (("--check",), {**SAFE, **CHECK_ONLY}),
                                              # latin1 with --diff: the module's result cannot be read (ansible refuses it)
                                              (("--check", "--diff"), {k: v for k, v in {**SAFE, **CHECK_ONLY}.items()
                                                                       if k != "latin1"})],
                         ids=["converge", "diff", "check_mode", "check_diff"])
def test_mi_lineinfile_returns_what_lineinfile_returns(tmp_path, flags, cases):
    t = tmp_path / "t"
    _files(t)
    cases = {n: a.replace("{t}", str(t)) for n, a in cases.items()}
    results, runs = side_by_side(tmp_path, cases, "mi_lineinfile", "ansible.builtin.lineinfile", *flags,
                                 keys="\n      failed_when: false")
    assert_same_results(results, cases)
    assert (t / "defs").read_bytes().decode() == DEFS  # nothing changed it
    there = results["MI regexp_there"]
    assert not there["changed"] and there["diff"][0]["before"] == (DEFS if "--diff" in flags else "")
    assert {n for n in cases if runs.get(f"MI {n}", 0) == 0} == ANSWERED, runs
    if "--check" in flags:
        assert all(results[f"MI {n}"]["changed"] for n in CHECK_ONLY if n not in ("latin1", "owner")), results
        assert results["MI last_line_without_newline"]["msg"] == "line replaced"


@pytest.mark.parametrize("args", [
    {"path": "/f", "line": "x", "state": "absent"}, {"path": "/f", "line": "x", "insertafter": "EOF"},
    {"path": "/f", "line": "x", "backrefs": True, "regexp": "x"}, {"path": "/f", "line": "x", "create": True},
    {"path": "/f", "line": "x", "mode": "0644"}, {"path": "/f", "dest": "/f", "line": "x"}, {"path": "f", "line": "x"},
    {"path": "/f"}, {"path": "/f", "line": "x", "regexp": "("}, {"path": "/$HOME/f", "line": "x"},
    {"path": "/f", "search_string": "x", "line": "x"}, {"path": "/f", "line": "x", "validate": "true %s"},
])
def test_anything_else_goes_to_the_module(args):
    assert mi_lineinfile.request(args) is None


@pytest.mark.parametrize("stdout", ["", "@mi-lineinfile\n", "@mi-lineinfile\nQUJD\n",
                                    "@mi-lineinfile\nnot base64!\n@mi-lineinfile-end\n",
                                    "@mi-lineinfile\nQUJ\n@mi-lineinfile-end\n"])
def test_an_answer_it_cannot_read_goes_to_the_module(stdout):
    assert mi_lineinfile.judge(mi_lineinfile.request({"path": "/f", "line": "ABC"}), stdout, False) is None
