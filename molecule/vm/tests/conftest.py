"""Fixtures of the VM scenario's tests: the machine create.yml booted, and its QMP monitor."""

import json
import os
from pathlib import Path

import pytest
from vm_helpers import INSTANCE, QMP


@pytest.fixture(scope="session")
def vm():
    """What create.yml recorded about the machine (run dir, port, QMP socket, sticks)."""
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / INSTANCE / "vm.json"
    return json.loads(path.read_text())


@pytest.fixture
def qmp(vm):
    client = QMP(vm["qmp"])
    yield client
    client.close()
