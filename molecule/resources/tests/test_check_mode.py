"""Shared by every scenario: after converge, check mode finds nothing to change.

Molecule's own `check` step only proves check mode does not fail; this test runs the
scenario's converge playbook in check mode again and asserts zero changed, zero failed,
and names every task that would still change something.
"""

import json
import os
import subprocess


def test_check_mode_after_converge_changes_nothing():
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = subprocess.run(
        ["ansible-playbook", "--check", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         os.path.join(scenario, "converge.yml")],
        env=env, capture_output=True, text=True, check=False, timeout=2400,  # a hang guard, not a timing test (3 hosts under CI load)
    )
    assert proc.stdout, proc.stderr
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    would_change = [
        f"{host}: {task['task']['name']}"
        for play in result["plays"] for task in play["tasks"]
        for host, res in task["hosts"].items() if res.get("changed")
    ]
    assert result["stats"], "check mode ran on no host"
    for host, stats in result["stats"].items():
        assert stats["failures"] == 0 and stats["unreachable"] == 0, (host, stats, proc.stderr[-2000:])
    assert not would_change, f"check mode after converge would still change: {would_change}"
