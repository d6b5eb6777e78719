"""Unit tests import the filter plugins and the action plugins as plain modules."""

import datetime
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "filter_plugins"))
sys.path.insert(0, str(ROOT / "action_plugins"))


@functools.cache
def _report_code():
    """callback_plugins/mi_audit.py and its catalog, loaded once."""
    sys.path.insert(0, str(ROOT / "callback_plugins"))
    import mi_audit  # noqa: PLC0415

    return mi_audit, *mi_audit.load_catalog()


def terminal_report(host, generated, status="compliant", site="site_lab", site_name="Lab"):
    """A terminal's own audit report (callback_plugins/mi_audit.py), every control at ``status``,
    as a pull-mode terminal writes it: what the fleet report filters and the collection read."""
    mi_audit, catalog, clauses = _report_code()
    policy = {"mi_site": {"id": site, "name": site_name}, "mi_policy_version": "2026.11"}
    rep = mi_audit.build_report(catalog, clauses, {host: {"policy": policy}}, datetime.date.today(), generated)
    for c in rep["hosts"][host]["controls"].values():
        c["status"] = status
    return rep


def run_play(tmp_path: Path, play: str, *flags: str, python: str = sys.executable,
             strategy: str = "linear", execs: dict[str, int] | None = None) -> dict[str, int]:
    """Run ``play`` against this machine (connection local, the project's ansible.cfg) and
    return how many modules each task ran (ansible's module payloads, read from -vvv; under
    linear only); ``execs``, when given, gets how many commands each task ran on the
    connection (modules' included). The run must pass."""
    book = tmp_path / "play.yml"
    book.write_text(play)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_DISPLAY_SKIPPED_HOSTS="true",  # banners as tasks start
               ANSIBLE_STRATEGY=strategy)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-vvv",
           "-e", f"ansible_python_interpreter={python}", *flags, str(book)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs: dict[str, int] = {}
    task = ""
    for line in proc.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[6:line.index("]")]
        elif re.match(r"<localhost> EXEC .*(AnsiballZ_|python[\d.]* && sleep 0)", line):  # a module's payload
            runs[task] = runs.get(task, 0) + 1
        if execs is not None and line.startswith("<localhost> EXEC "):
            execs[task] = execs.get(task, 0) + 1
    return runs


def side_by_side(tmp_path: Path, cases: dict[str, str], mi: str, builtin: str, *flags: str,
                 keys: str = "", strategy: str = "linear", execs: dict[str, int] | None = None
                 ) -> tuple[dict, dict[str, int]]:
    """Run each case's arguments once through the project's action ``mi`` and once through
    ``builtin`` (tasks "MI <case>" and "BUILTIN <case>", each with the extra task ``keys``),
    and return their registered results by task name and the module runs of ``run_play``."""
    tasks = ""
    for name, args in cases.items():
        for kind, action in (("MI", mi), ("BUILTIN", builtin)):
            tasks += f"""
    - name: {kind} {name}
      {action}: {args}
      register: r{keys}
    - name: KEEP {kind} {name}
      ansible.builtin.set_fact: {{results: "{{{{ results | combine({{'{kind} {name}': r}}) }}}}"}}
"""
    play = f"""
- name: {mi} and {builtin} side by side
  hosts: all
  gather_facts: false
  vars: {{results: {{}}}}
  tasks:{tasks}
    - name: RESULTS
      ansible.builtin.copy:
        content: "{{{{ results | to_json }}}}"
        dest: "{tmp_path / 'results.json'}"
        mode: "0600"
      check_mode: false
"""
    runs = run_play(tmp_path, play, *flags, strategy=strategy, execs=execs)
    return json.loads((tmp_path / "results.json").read_text()), runs


def assert_same_results(results: dict, cases) -> None:
    """Each case's result through the project's action equals the builtin's ("MI <case>" and
    "BUILTIN <case>" of ``side_by_side``), the module's echo of its arguments (-vvv) removed
    from both and from each loop item's result."""
    for name in cases:
        mi, builtin = results[f"MI {name}"], results[f"BUILTIN {name}"]
        for r in (mi, builtin, *mi.get("results", []), *builtin.get("results", [])):
            r.pop("invocation", None)
        assert mi == builtin, name
