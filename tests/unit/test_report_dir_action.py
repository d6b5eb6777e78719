"""mi_report_dir (action_plugins/): the audit's report directory, created and tested for
writing on the controller without a module. Run by ansible-playbook on this machine next to
what it replaces (ansible.builtin.file state=directory): the same directories, the same modes."""

import stat
from pathlib import Path

import pytest
from conftest import run_play

import mi_report_dir


def _modes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode)) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize(("args", "field"), [
    ({}, "path: required"),
    ({"path": "reports/x"}, "path: reports/x is not an absolute path"),
    ({"path": "/r", "mode": "750x"}, "mode: '750x' is not an octal mode"),
    ({"path": "/r", "mode": 488}, "mode: 488 is not an octal mode"),
    ({"path": "/r", "owner": "root"}, "owner: unknown option"),
])
def test_bad_arguments_name_the_option(args, field):
    with pytest.raises(ValueError, match=field.replace("(", r"\(")):
        mi_report_dir.check_args(args)


def test_missing_dirs_outermost_first(tmp_path):
    assert mi_report_dir.missing_dirs(str(tmp_path / "a" / "b")) == [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert mi_report_dir.missing_dirs(str(tmp_path)) == []


def test_check_mode_creates_nothing_and_reports_the_change(tmp_path):
    res = mi_report_dir.ensure(str(tmp_path / "a" / "b"), 0o750, check=True)
    assert res["changed"] and res["created"] == [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert not (tmp_path / "a").exists()
    tmp_path.chmod(0o755)
    assert mi_report_dir.ensure(str(tmp_path), 0o750, check=True)["changed"]
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_same_directories_and_modes_as_the_file_module_and_no_module_run(tmp_path):
    """Nested new directories, an existing one with another mode, an existing one as asked; the
    write test leaves nothing behind; a second run changes nothing."""
    mi, bi = tmp_path / "mi", tmp_path / "bi"
    for root in (mi, bi):
        (root / "existing").mkdir(parents=True)
        (root / "existing").chmod(0o755)
        (root / "right").mkdir()
        (root / "right").chmod(0o750)
    tasks = ""
    for rel in ("new/a/b", "existing", "right"):
        tasks += f"""
    - name: MI {rel}
      mi_report_dir: {{path: "{mi / rel}"}}
      register: r
    - name: KEEP MI {rel}
      ansible.builtin.set_fact: {{mi_changed: "{{{{ mi_changed + [r.changed] }}}}"}}
    - name: BUILTIN {rel}
      ansible.builtin.file: {{path: "{bi / rel}", state: directory, mode: "0750"}}
      register: r
    - name: KEEP BUILTIN {rel}
      ansible.builtin.set_fact: {{bi_changed: "{{{{ bi_changed + [r.changed] }}}}"}}
"""
    play = f"""
- name: mi_report_dir and the file module
  hosts: all
  gather_facts: false
  vars: {{mi_changed: [], bi_changed: []}}
  tasks:{tasks}
    - name: SAME CHANGES
      ansible.builtin.assert:
        that: mi_changed == bi_changed and mi_changed == [true, true, false]
        fail_msg: "{{{{ mi_changed }}}} {{{{ bi_changed }}}}"
"""
    runs = run_play(tmp_path, play)
    assert _modes(mi) == _modes(bi)
    assert _modes(mi)["new/a/b"] == "0o750"
    assert not any(n.startswith("MI ") for n in runs), runs  # no module on the controller either
    assert not list(mi.rglob(".write-test-*"))
    again = run_play(tmp_path, play.replace("[true, true, false]", "[false, false, false]"))
    assert not any(n.startswith("MI ") for n in again)


def test_a_directory_that_cannot_be_made_fails_naming_path(tmp_path):
    target = tmp_path / "file" / "reports"
    (tmp_path / "file").write_text("x")
    play = f"""
- name: mi_report_dir refuses
  hosts: all
  gather_facts: false
  vars:
    expected: "path: cannot create or write in {target} (Not a directory)"
  tasks:
    - name: UNDER A FILE
      mi_report_dir: {{path: "{target}"}}
      register: r
      ignore_errors: true
    - name: FAILED WITH THE MESSAGE
      ansible.builtin.assert:
        that: r is failed and r.msg == expected
        fail_msg: "{{{{ r | to_json }}}}"
"""
    run_play(tmp_path, play)
