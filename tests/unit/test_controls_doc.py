"""docs/controls.md is generated from the catalog and must not be stale."""

import subprocess
import sys

from conftest import ROOT


def test_controls_doc_is_current():
    fresh = subprocess.run([sys.executable, str(ROOT / "scripts/gen_controls_doc.py"), "--stdout"],
                           capture_output=True, text=True, check=True).stdout
    current = (ROOT / "docs/controls.md").read_text()
    assert current == fresh, "docs/controls.md is stale: run `make docs`"
