"""callback_plugins/mi_changes.py: every host's mi_run_changed says whether a task of this run
has changed it (or failed on it) so far; the roles skip their second read when it is false."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _seen(tmp_path: Path, tasks: str, changes: str = "1", hosts: tuple[str, ...] = ("localhost",)) -> dict | list:
    """Run two plays on `hosts` (local connection): `tasks` (where a task `- *seen` records
    mi_run_changed) and a second play that records it once more; return what was recorded,
    in order (by host when there are several)."""
    out = tmp_path / "seen-{{ inventory_hostname }}.json"
    book = tmp_path / "play.yml"
    book.write_text(f"""
- name: What this run did to the host
  hosts: all
  gather_facts: false
  vars:
    seen: []
  tasks:
    - &seen
      name: Record mi_run_changed
      ansible.builtin.set_fact:
        seen: "{{{{ seen + [mi_run_changed | default('unset')] }}}}"
{tasks}
- name: The next play
  hosts: all
  gather_facts: false
  tasks:
    - *seen
    - name: Keep what was seen
      ansible.builtin.copy:
        content: "{{{{ seen | to_json }}}}"
        dest: "{out}"
        mode: "0600"
""")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               MI_RUN_CHANGES=changes)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", ",".join(hosts) + ",", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(book)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = {host: json.loads((tmp_path / f"seen-{host}.json").read_text()) for host in hosts}
    return seen if len(hosts) > 1 else seen[hosts[0]]


def test_false_until_a_task_changes_the_host_then_true_for_the_rest_of_the_run(tmp_path):
    target = tmp_path / "file"
    seen = _seen(tmp_path, f"""
    - *seen
    - name: A command that reads
      ansible.builtin.command: "true"
      changed_when: false
    - *seen
    - name: A change
      ansible.builtin.copy:
        content: "x"
        dest: "{target}"
        mode: "0600"
    - *seen
    - name: The same file again, unchanged
      ansible.builtin.copy:
        content: "x"
        dest: "{target}"
        mode: "0600"
    - *seen
""")
    # before any result; after one ok; after a read; after the change; after an unchanged task;
    # in the next play
    assert seen == ["unset", False, False, True, True, True]


def test_a_failed_task_counts_as_a_change(tmp_path):
    seen = _seen(tmp_path, """
    - name: A failure that the play ignores
      ansible.builtin.command: "false"
      changed_when: false
      ignore_errors: true
    - *seen
""")
    assert seen == ["unset", True, True]


def test_a_skipped_task_changes_nothing(tmp_path):
    seen = _seen(tmp_path, """
    - name: Skipped
      ansible.builtin.command: "touch /nonexistent/never"
      when: false
    - *seen
""")
    assert seen == ["unset", False, False]


def test_off_the_variable_is_never_set_and_the_roles_read_again(tmp_path):
    seen = _seen(tmp_path, """
    - *seen
""", changes="0")
    assert seen == ["unset", "unset", "unset"]


def test_each_host_has_its_own(tmp_path):
    seen = _seen(tmp_path, f"""
    - name: A change on one host only
      ansible.builtin.copy:
        content: "x"
        dest: "{tmp_path}/file-{{{{ inventory_hostname }}}}"
        mode: "0600"
      when: inventory_hostname == "first"
    - *seen
""", hosts=("first", "second"))
    assert seen == {"first": ["unset", True, True], "second": ["unset", False, False]}


def test_a_change_delegated_to_another_host_counts_for_that_host(tmp_path):
    seen = _seen(tmp_path, f"""
    - name: A change on the second host, by a task of the first
      ansible.builtin.copy:
        content: "x"
        dest: "{tmp_path}/delegated"
        mode: "0600"
      delegate_to: "{{{{ groups['all'] | last }}}}"
      when: inventory_hostname == "first"
    - *seen
""", hosts=("first", "second"))
    assert seen == {"first": ["unset", True, True], "second": ["unset", True, True]}
