"""Role READMEs carry the variable table generated from meta/argument_specs.yml."""

import subprocess
import sys

from conftest import ROOT


def test_every_role_has_argument_specs_and_readme():
    for role in (ROOT / "roles").iterdir():
        assert (role / "meta/argument_specs.yml").is_file(), role.name
        assert (role / "README.md").is_file(), role.name


def test_variable_tables_are_current():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/gen_role_vars.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
