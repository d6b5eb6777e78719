"""mi_systemd_service (action_plugins/mi_systemd_service.py) returns what
ansible.builtin.systemd_service returns, on a terminal where systemd is PID 1, and runs no
module when the unit already is as the task asks.

Each case runs as BUILTIN (the module), MI (the project's action) and AGAIN (the module once
more): the results must be equal key for key; in ``status`` (the whole ``systemctl show``)
values that differ between BUILTIN and AGAIN (timestamps, dependency lists in another order)
are left out, and lists are compared as sets of words. Module runs are counted from -vvv
("Using module file"). The units are the test's own, under /etc/systemd/system and
/usr/local/lib/systemd/system, and are removed at the end.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

UNITS = ["mi-sbs-on", "mi-sbs-off", "mi-sbs-masked", "mi-sbs-change", "mi-sbs-initd"]

SETUP = """
- name: Units of the side-by-side test in known states
  hosts: "{host}"
  gather_facts: false
  tasks:
    - name: A unit directory below /etc (systemctl mask replaces no file of /etc)
      ansible.builtin.file:
        path: /usr/local/lib/systemd/system
        state: directory
        mode: "0755"
    - name: Unit files
      ansible.builtin.copy:
        dest: "{{{{ '/usr/local/lib/systemd/system' if item == 'mi-sbs-masked' else '/etc/systemd/system' }}}}/{{{{ item }}}}.service"
        mode: "0644"
        content: |
          [Unit]
          Description={{ a description that starts with a brace
          [Service]
          Type=oneshot
          RemainAfterExit=yes
          ExecStart=/bin/true
          [Install]
          WantedBy=multi-user.target
      loop: {units}
    - name: Init scripts beside two units (the module may ask their SysV links)
      ansible.builtin.copy:
        dest: /etc/init.d/{{{{ item }}}}
        mode: "0755"
        content: |
          #!/bin/sh
          ### BEGIN INIT INFO
          # Provides:          {{{{ item }}}}
          # Required-Start:
          # Required-Stop:
          # Default-Start:     2 3 4 5
          # Default-Stop:      0 1 6
          # Short-Description: side-by-side test
          ### END INIT INFO
          exit 0
      loop: [mi-sbs-initd, mi-sbs-masked]
    - name: A SysV start link of the masked unit (systemctl says "masked"; the link decides)
      ansible.builtin.file:
        src: ../init.d/mi-sbs-masked
        dest: /etc/rc2.d/S01mi-sbs-masked
        state: link
        force: true
    - name: States
      ansible.builtin.shell: |
        set -e
        systemctl daemon-reload
        systemctl enable --now mi-sbs-on
        systemctl disable --now mi-sbs-off mi-sbs-change mi-sbs-initd
        systemctl mask mi-sbs-masked
      changed_when: false
"""

CLEANUP = """
- name: Remove the units of the side-by-side test
  hosts: "{host}"
  gather_facts: false
  tasks:
    - name: Remove
      ansible.builtin.shell: |
        systemctl disable --now {names} || true
        systemctl unmask mi-sbs-masked || true
        rm -f /etc/systemd/system/mi-sbs-*.service /usr/local/lib/systemd/system/mi-sbs-*.service /etc/init.d/mi-sbs-initd \\
          /etc/init.d/mi-sbs-masked /etc/rc2.d/S01mi-sbs-masked
        systemctl daemon-reload
      changed_when: true
"""

# case -> (arguments, runs the module in a converge, runs the module in check mode)
CASES = {
    "enabled_started": ({"name": "mi-sbs-on", "enabled": True, "state": "started"}, False, False),
    "with_daemon_reload": ({"name": "mi-sbs-on", "enabled": True, "state": "started", "daemon_reload": True},
                           False, False),
    "disabled_stopped": ({"name": "mi-sbs-off", "enabled": False, "state": "stopped"}, False, False),
    "masked": ({"name": "mi-sbs-masked", "masked": True}, False, False),
    "not_masked": ({"name": "mi-sbs-on", "masked": False}, False, False),
    "alias_and_string_boolean": ({"unit": "mi-sbs-on.service", "enabled": "yes"}, False, False),
    "state_only": ({"name": "mi-sbs-on", "state": "started"}, False, False),
    "status_only": ({"name": "mi-sbs-off"}, False, False),
    "static_unit": ({"name": "systemd-journald", "enabled": True, "state": "started"}, False, False),
    "init_script_disabled": ({"name": "mi-sbs-initd", "enabled": False}, False, False),
    "init_script_masked_link": ({"name": "mi-sbs-masked", "enabled": True}, False, False),

    "missing_unit": ({"name": "mi-sbs-none", "state": "started"}, True, True),
    # check mode only: a converge would change the unit between the three runs
    "restarted": ({"name": "mi-sbs-on", "state": "restarted"}, None, True),
    "must_start": ({"name": "mi-sbs-change", "enabled": True, "state": "started"}, None, True),
    "must_mask": ({"name": "mi-sbs-off", "masked": True}, None, True),
}


def _playbook(tmp_path: Path, name: str, text: str, *flags: str) -> str:
    book = tmp_path / name
    book.write_text(text)
    env = dict(os.environ, ANSIBLE_DISPLAY_SKIPPED_HOSTS="true",  # banners as tasks start
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_VERBOSE_TO_STDERR="false")  # the verifier's environment sends -vvv to stderr
    proc = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], *flags, str(book)],
                          env=env, capture_output=True, text=True, check=False,
                          timeout=1200)  # a hang guard, not a timing test
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout


def _side_by_side(tmp_path: Path, host: str, check: bool) -> tuple[dict, set]:
    out = tmp_path / f"results-{check}.json"
    # the interpreter discovery (molecule's interpreter_python: auto_silent) adds a fact to
    # the first module result of the play: not to a case's
    tasks = [{"name": "DISCOVER", "ansible.builtin.ping": {}}]
    for name, (args, in_converge, _) in CASES.items():
        if not check and in_converge is None:
            continue
        for kind, action in (("BUILTIN", "ansible.builtin.systemd_service"), ("MI", "mi_systemd_service"),
                             ("AGAIN", "ansible.builtin.systemd_service")):
            tasks.append({"name": f"{kind} {name}", action: args, "register": "r",
                          "ignore_errors": name == "missing_unit"})
            tasks.append({"name": f"KEEP {kind} {name}",
                          "ansible.builtin.set_fact": {"results": "{{ results | combine({'%s %s': r}) }}" % (kind, name)}})
    tasks.append({"name": "RESULTS", "ansible.builtin.copy": {"content": "{{ results | to_json }}", "dest": str(out),
                                                               "mode": "0600"},
                  "delegate_to": "localhost", "become": False, "check_mode": False})
    play = [{"name": "mi_systemd_service beside ansible.builtin.systemd_service", "hosts": host,
             "gather_facts": False, "vars": {"results": {}}, "tasks": tasks}]
    log = _playbook(tmp_path, f"sbs-{check}.yml", yaml.safe_dump(play, sort_keys=False), "-vvv",
                    *(["--check"] if check else []))
    module_runs, task = set(), ""
    for line in log.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if line.startswith("TASK ["):
            task = line[6:line.index("]")]
        elif "Using module file" in line and task.startswith("MI "):
            module_runs.add(task[3:])
    (tmp_path / f"sbs-{check}.log").write_text(log)
    return json.loads(out.read_text()), module_runs


def _words(value) -> list:
    return sorted(str(value).split())


# Live counters of a running unit (systemd-journald's memory grows with every line the runs
# log): they move between any two reads, whoever reads, and may come back to the same value
# in the two module runs while the action's read fell between. Never compared.
_LIVE = re.compile(r"^(Memory\w*(Current|Available|Peak)|CPUUsageNSec|TasksCurrent|IO\w+(Bytes|Operations)"
                   r"|IP\w+(Bytes|Packets))$")


@pytest.fixture(scope="module")
def units(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("systemd")
    host = "all"  # the scenario's one instance
    yield tmp_path, host
    _playbook(tmp_path, "cleanup.yml", CLEANUP.format(host=host, names=" ".join(UNITS)))


@pytest.mark.parametrize("check", [True, False], ids=["check_mode", "converge"])
def test_mi_systemd_service_returns_the_modules_result(units, check):
    tmp_path, host = units
    _playbook(tmp_path, "setup.yml", SETUP.format(host=host, units=json.dumps(UNITS)))
    results, module_runs = _side_by_side(tmp_path, host, check)
    compared = 0
    for name, (_, in_converge, in_check) in CASES.items():
        if not check and in_converge is None:
            continue
        builtin, mi, again = (dict(results[f"{k} {name}"]) for k in ("BUILTIN", "MI", "AGAIN"))
        status = {k: r.pop("status", {}) for k, r in (("b", builtin), ("m", mi), ("a", again))}
        for r in (builtin, mi):
            r.pop("invocation", None)
        assert mi == builtin, name
        assert set(status["m"]) == set(status["b"]), name
        if not status["b"]:
            assert not status["m"], name
            compared += 1
            continue
        steady = [k for k in status["b"]
                  if not _LIVE.match(k) and _words(status["b"][k]) == _words(status["a"].get(k))]
        assert len(steady) > 0.9 * len(status["b"]), (name, "too much moved between the two module runs")
        assert {k: _words(status["m"][k]) for k in steady} == {k: _words(status["b"][k]) for k in steady}, name
        compared += 1
    expected = {n for n, (_, conv, chk) in CASES.items() if (chk if check else conv)}
    log = (tmp_path / f"sbs-{check}.log").read_text()
    assert module_runs == expected, (module_runs, log.count("TASK ["), log.count("Using module file"), log[:3000])
    assert compared == sum(1 for _, conv, _ in CASES.values() if check or conv is not None)
    # what the cases say about the terminal, read from the module's own answers
    assert results["MI masked"]["status"]["LoadState"] == "masked"
    assert results["MI enabled_started"]["status"]["ActiveState"] == "active"
    if check:
        assert results["MI must_start"]["changed"] and results["MI must_mask"]["changed"]
    assert results["MI missing_unit"]["failed"]


MISSING_PLAY = """
- name: mi_missing on a terminal with systemd
  hosts: {host}
  gather_facts: false
  tasks:
    - name: SKIP a unit that is not installed
      mi_systemd_service: {{name: mi-sbs-none, enabled: true, state: started, mi_missing: skip}}
      register: skip_missing
    - name: SKIP a restart of a unit that is not installed (a handler)
      mi_systemd_service: {{name: mi-sbs-none.timer, state: restarted, daemon_reload: true, mi_missing: skip}}
      register: skip_restart
    - name: FAIL without the option
      mi_systemd_service: {{name: mi-sbs-none, enabled: true, state: started}}
      register: fail_missing
      ignore_errors: true
    - name: INSTALLED a unit that is installed
      mi_systemd_service: {{name: systemd-journald, state: started, mi_missing: skip}}
      register: installed
    - name: BUILTIN the same unit
      ansible.builtin.systemd_service: {{name: systemd-journald, state: started}}
      register: builtin
    - name: RESTART an installed unit through the module
      mi_systemd_service: {{name: systemd-journald, state: restarted, mi_missing: skip}}
      register: restart
    - name: RESULTS
      ansible.builtin.copy:
        content: "{{{{ {{'skip_missing': skip_missing, 'skip_restart': skip_restart, 'fail_missing': fail_missing,
                      'installed': installed, 'builtin': builtin, 'restart': restart}} | to_json }}}}"
        dest: "{out}"
        mode: "0600"
      delegate_to: localhost
      become: false
      check_mode: false
"""


@pytest.mark.parametrize("check", [True, False], ids=["check_mode", "converge"])
def test_mi_missing_skip_skips_only_a_unit_that_is_not_installed(tmp_path, check):
    """mi_missing: skip (the roles' units that a package or unit-file task installs): a unit
    systemd does not know is skipped, for a restart too; without the option the task fails as
    the module does; an installed unit gets the module's answer, and a restart acts."""
    out = tmp_path / "missing.json"
    _playbook(tmp_path, "missing.yml", MISSING_PLAY.format(host="all", out=out), *(["--check"] if check else []))
    r = json.loads(out.read_text())
    for name in ("skip_missing", "skip_restart"):
        assert r[name]["skipped"] is True and not r[name]["changed"], r[name]
        assert "is not installed (mi_missing: skip)" in r[name]["skip_reason"], r[name]
    assert r["fail_missing"]["failed"] and "Could not find the requested service" in r["fail_missing"]["msg"]
    assert not r["installed"].get("skipped") and r["installed"]["changed"] is False
    assert r["installed"]["status"]["LoadState"] == r["builtin"]["status"]["LoadState"] == "loaded"
    assert r["installed"]["state"] == r["builtin"]["state"] == "started"
    assert not r["restart"].get("skipped") and r["restart"]["changed"] is True


RELOAD_PLAY = """
- name: mi_systemd_service daemon_reload, {step}
  hosts: all
  gather_facts: false
  tasks:
    - name: BEFORE when systemd last loaded its units
      ansible.builtin.command: systemctl show -p UnitsLoadTimestampMonotonic -p UnitsLoadStartTimestampMonotonic
      register: before
      changed_when: false
      check_mode: false
    - name: MI the unit, with daemon_reload
      mi_systemd_service: {{name: mi-sbs-reload, enabled: true, state: started, daemon_reload: true}}
      register: mi
    - name: AFTER the unit's environment and when systemd last loaded its units
      ansible.builtin.shell: >-
        systemctl show -p UnitsLoadTimestampMonotonic -p UnitsLoadStartTimestampMonotonic
        && systemctl show -p Environment -p NeedDaemonReload mi-sbs-reload
      register: after
      changed_when: false
      check_mode: false
    - name: RESULTS
      ansible.builtin.copy:
        content: "{{{{ {{'before': before.stdout, 'mi': mi, 'after': after.stdout}} | to_json }}}}"
        dest: "{out}"
        mode: "0600"
      delegate_to: localhost
      become: false
      check_mode: false
"""

RELOAD_SETUP = """
- name: A unit for the daemon_reload test, {step}
  hosts: all
  gather_facts: false
  tasks:
    - name: The unit, {step}
      ansible.builtin.shell: |
        set -e
        {script}
      changed_when: true
"""

# a file with the modification time of a package's (dpkg and cp -p keep the one they were given)
_OLD = "touch -d 2001-01-01 /tmp/mi-sbs-reload.new && cp -p /tmp/mi-sbs-reload.new"


def _reload_step(tmp_path: Path, step: str, script: str | None, *flags: str, settle: bool = False) -> dict:
    """One play of RELOAD_PLAY after ``script``; ``settle``: first wait past the action's margin
    (a second or two before the last load counts as after it), so that this step's reload is
    well after the last change (not a timing test)."""
    if script is not None:
        _playbook(tmp_path, f"setup-{step}.yml", RELOAD_SETUP.format(step=step, script=script))
    if settle:
        time.sleep(4)
    out = tmp_path / f"reload-{step}.json"
    log = _playbook(tmp_path, f"reload-{step}.yml", RELOAD_PLAY.format(step=step, out=out), "-vvv", *flags)
    r = json.loads(out.read_text())
    r["module_runs"] = sum("Using module file" in line and "systemd_service" in line for line in log.splitlines())

    before, r["props"] = (dict(line.split("=", 1) for line in r[k].splitlines() if "=" in line)
                          for k in ("before", "after"))

    def loaded(props: dict) -> str:
        return props["UnitsLoadTimestampMonotonic"] if props.get("UnitsLoadTimestampMonotonic", "0") != "0" \
            else props["UnitsLoadStartTimestampMonotonic"]

    r["reloaded"] = loaded(before) != loaded(r["props"])
    return r


def test_daemon_reload_only_when_an_input_of_the_reload_changed(tmp_path):
    """daemon_reload: true reloads systemd, in a converge, when a unit file, a drop-in or another
    input of daemon-reload has changed since systemd last loaded its units (a change the module's
    reload would pick up), and only then: a unit in order runs no reload and no module. A file
    with an old modification time (a package's) counts by its change time. Check mode never
    reloads."""
    unit = "/etc/systemd/system/mi-sbs-reload.service"
    dropin = "/etc/systemd/system/mi-sbs-reload.service.d"
    try:
        first = _reload_step(tmp_path, "installed", f"""
        printf '[Service]\\nType=oneshot\\nRemainAfterExit=yes\\nExecStart=/bin/true\\nEnvironment=MI=one\\n[Install]\\nWantedBy=multi-user.target\\n' > /tmp/mi-sbs-reload.new
        {_OLD} {unit}
        systemctl daemon-reload
        systemctl enable --now mi-sbs-reload
        sleep 4
        systemctl daemon-reload""")
        assert not first["reloaded"] and first["module_runs"] == 0 and first["mi"]["changed"] is False, first
        assert first["props"]["Environment"] == "MI=one"

        # a drop-in with an old time, in check mode: reported as it is, never reloaded
        checked = _reload_step(tmp_path, "dropin-check", f"""
        mkdir -p {dropin}
        printf '[Service]\\nEnvironment=MI=two\\n' > /tmp/mi-sbs-reload.new
        {_OLD} {dropin}/mi.conf""", "--check")
        # (systemd 252's own NeedDaemonReload says "no" here: it looks for drop-ins in its cache of
        # the unit path, which a new drop-in directory is not in until a reload)
        assert not checked["reloaded"] and checked["props"]["Environment"] == "MI=one", checked

        changed = _reload_step(tmp_path, "dropin", None, settle=True)
        assert changed["reloaded"] and changed["props"]["Environment"] == "MI=two", changed
        assert changed["mi"]["changed"] is False and changed["props"]["NeedDaemonReload"] == "no"
        assert changed["module_runs"] == 0  # the action reloaded, then found the unit in order

        again = _reload_step(tmp_path, "again", None)
        assert not again["reloaded"] and again["module_runs"] == 0, again

        # a unit file replaced by one with an older modification time (a package's downgrade)
        replaced = _reload_step(tmp_path, "replaced", f"""
        rm -r {dropin}
        sed 's/MI=one/MI=three/' {unit} > /tmp/mi-sbs-reload.new
        touch -d 2000-01-01 /tmp/mi-sbs-reload.new && cp -p /tmp/mi-sbs-reload.new {unit}""")
        assert replaced["reloaded"] and replaced["props"]["Environment"] == "MI=three", replaced

        # an input of a generator (an fstab line is a mount unit only after a reload)
        fstab = _reload_step(tmp_path, "fstab", "touch /etc/fstab")
        assert fstab["reloaded"], fstab
    finally:
        _playbook(tmp_path, "reload-cleanup.yml", RELOAD_SETUP.format(step="removed", script=f"""
        systemctl disable --now mi-sbs-reload || true
        rm -rf {unit} {dropin} /tmp/mi-sbs-reload.new
        systemctl daemon-reload"""))
