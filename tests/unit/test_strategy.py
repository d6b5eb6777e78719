"""The opt-in strategy mitogen_linear loads with the pinned ansible-core and mitogen, and
runs modules; the execution environment carries the same mitogen as requirements.txt."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

PLAY = """
- name: A module through mitogen, in check mode as an audit runs
  hosts: all
  gather_facts: false
  tasks:
    - name: A file is compared, not written (check mode)
      ansible.builtin.copy:
        content: "mitogen\\n"
        dest: "{{ target }}"
        mode: "0644"
      check_mode: true
      register: copied

    - name: The module ran through the strategy's connection and reported the drift
      ansible.builtin.assert:
        that:
          - copied is changed
          - ansible_connection == connection_expected
"""


def _run(tmp_path: Path, strategy: str, connection: str = "local") -> subprocess.CompletedProcess:
    book = tmp_path / "play.yml"
    book.write_text(PLAY)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STRATEGY=strategy,
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", f"target={tmp_path / 'absent.txt'}", "-e", f"connection_expected={connection}",
           "-e", f"ansible_python_interpreter={sys.executable}", str(book)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("strategy", "connection"), [
    ("mitogen_linear", "mitogen_local"),  # mitogen replaces the connection plugin for the run
    ("linear", "local"),  # the default: the same play tells the two apart
])
def test_strategy_runs_a_play(tmp_path, strategy, connection):
    proc = _run(tmp_path, strategy, connection)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"localhost\s+: ok=2\s+changed=1\s+unreachable=0\s+failed=0", proc.stdout), proc.stdout
    assert not (tmp_path / "absent.txt").exists(), "check mode wrote the file"


def test_unknown_strategy_is_refused(tmp_path):
    """ANSIBLE_STRATEGY is read through the project's ansible.cfg, not defaulted: a name
    that no strategy plugin directory holds fails the run and is named."""
    proc = _run(tmp_path, "mi_no_such_strategy")
    assert proc.returncode != 0
    assert "mi_no_such_strategy" in proc.stdout + proc.stderr


def test_execution_environment_pins_the_same_mitogen():
    pinned = re.search(r"^mitogen==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt pins mitogen"
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert f"mitogen=={pinned.group(1)}" in ee["dependencies"]["python"]
