"""The AWX execution-environment definition is one that ansible-builder accepts."""

import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_ansible_builder_create_accepts_the_definition(tmp_path):
    builder = Path(sys.executable).parent / "ansible-builder"
    proc = subprocess.run([str(builder), "create", "-f", str(ROOT / "execution-environment.yml"), "-c", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    requirements = (tmp_path / "_build/requirements.txt").read_text()
    assert "ansible==12.3.0" in requirements
    assert (tmp_path / "Dockerfile").read_text().count("ansible-core==2.19.14") >= 1
