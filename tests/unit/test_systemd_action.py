"""mi_systemd_service (action_plugins/mi_systemd_service.py): which tasks it answers and how it
reads systemctl. Its results against the module's, on a terminal with systemd, are compared in
molecule/base_os/tests/test_systemd_action.py (no systemd here)."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import mi_systemd_service as mss

SHOW = "Id=mi.service\nLoadState=loaded\nActiveState=active\nExecStart={ path=/bin/true ;\n argv[]=/bin/true }\nDescription={ brace\n"


def _out(show=SHOW, rc=0, enabled=None, enabled_l=None, initd=False, sysv=False):
    out = f"@mi-systemd show\n{show}@mi-systemd-rc {rc}\n"
    if enabled is not None:
        out += f"@mi-systemd is-enabled\n{enabled[0]}\n@mi-systemd-rc {enabled[1]}\n"
    if enabled_l is not None:
        out += f"@mi-systemd is-enabled-l\n{enabled_l[0]}\n@mi-systemd-rc {enabled_l[1]}\n"
    if initd:
        out += "@mi-systemd initd\n"
    if sysv:
        out += "@mi-systemd sysv\n"
    return out


@pytest.mark.parametrize("args", [
    {"name": "a", "state": "restarted"},
    {"name": "a", "state": "reloaded"},
    {"name": "a*", "enabled": True},
    {"name": "it's", "enabled": True},
    {"name": "a", "enabled": True, "scope": "user"},
    {"name": "a", "enabled": True, "force": True},
    {"name": "a", "enabled": True, "no_block": True},
    {"name": "a", "enabled": True, "daemon_reexec": True},
    {"name": "a", "enabled": "perhaps"},
    {"daemon_reload": True},
    {"name": "a", "unit": "b", "enabled": True},
])
def test_anything_else_goes_to_the_module(args):
    assert mss.request(args, check_mode=False) is None


def _reloads_first(cmd: str) -> bool:
    return cmd.startswith(mss.NEEDS_RELOAD + "\nif mi_needs_reload; then systemctl daemon-reload ")


def test_daemon_reload_runs_first_when_needed_except_in_check_mode():
    """The reload comes before any question to systemd, and only when mi_needs_reload says so
    (its behaviour on a real systemd: molecule/base_os/tests/test_systemd_action.py)."""
    req = mss.request({"name": "a", "enabled": True, "daemon_reload": True}, check_mode=False)
    cmd = mss.command(req)
    assert _reloads_first(cmd) and cmd.count("daemon-reload") == 1
    assert cmd.index("daemon-reload") < cmd.index("systemctl show a")
    assert "daemon-reload" not in mss.command(mss.request({"name": "a", "enabled": True, "daemon_reload": True},
                                                          check_mode=True))
    assert "mi_needs_reload" not in mss.command(mss.request({"name": "a", "enabled": True}, check_mode=False))


def test_the_command_with_its_reload_check_is_valid_sh():
    cmd = mss.command(mss.request({"name": "a", "enabled": True, "state": "started", "daemon_reload": True},
                                  check_mode=False))
    proc = subprocess.run(["sh", "-n", "-c", cmd], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def _run_needs_reload(tmp_path: Path, systemctl: str | None) -> subprocess.CompletedProcess:
    """mi_needs_reload run by sh with this machine's find and date, and a systemctl that prints
    ``systemctl`` (none when None)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("find", "date"):
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(shutil.which(tool))
    if systemctl is not None:
        (bin_dir / "systemctl").write_text(f"#!/bin/sh\nprintf '{systemctl}'\n")
        (bin_dir / "systemctl").chmod(0o755)
    return subprocess.run(["/bin/sh", "-c", mss.NEEDS_RELOAD + "\nmi_needs_reload"], env={"PATH": str(bin_dir)},
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("systemctl", [None, "", "UnitsLoadTimestamp=\nUnitPath=/nowhere\n",
                                       "UnitsLoadTimestamp=yesterday\nUnitsLoadTimestampMonotonic=5\n",
                                       "UnitsLoadTimestamp=@12\nUnitsLoadTimestampMonotonic=x\n"],
                         ids=["no_systemctl", "says_nothing", "no_start_time", "not_unix_time", "bad_monotonic"])
def test_a_reload_check_that_cannot_read_systemd_reloads(tmp_path, systemctl):
    """Without systemctl, or with an answer the check does not know (an older systemd that has
    no UnitsLoadTimestamp, a value in another form), mi_needs_reload says reload, as the module
    always does."""
    proc = _run_needs_reload(tmp_path, systemctl)
    assert proc.returncode == 0 and proc.stdout == "", (proc.stdout, proc.stderr)


def test_a_unit_in_order_gets_the_modules_result_with_its_parsed_status():
    req = mss.request({"service": "mi.service", "enabled": "yes", "state": "started"}, check_mode=True)
    result = mss.judge(req, _out(enabled_l=("enabled", 0)), "Shared connection to 10.0.0.1 closed.\r\n")
    assert result["changed"] is False and result["enabled"] is True and result["state"] == "started"
    assert result["name"] == "mi.service"
    assert result["status"]["ExecStart"] == "{ path=/bin/true ;\n argv[]=/bin/true }"
    assert result["status"]["Description"] == "{ brace"


@pytest.mark.parametrize(("args", "out", "err"), [
    ({"name": "a", "state": "started"}, _out(SHOW.replace("=active", "=inactive")), ""),  # must start
    ({"name": "a", "state": "stopped"}, _out(), ""),  # must stop
    ({"name": "a", "enabled": True}, _out(enabled_l=("disabled", 1)), ""),  # must enable
    ({"name": "a", "enabled": True}, _out(enabled_l=("indirect", 0)), ""),  # the module enables it
    ({"name": "a", "enabled": False}, _out(enabled_l=("masked", 1), initd=True, sysv=True), ""),  # SysV link
    ({"name": "a", "enabled": True}, _out(enabled_l=("masked", 1), initd=True), ""),  # no SysV link
    ({"name": "a", "enabled": True}, _out(enabled_l=("masked", 1), sysv=True), ""),  # a link, no init script
    ({"name": "a", "masked": True}, _out(enabled=("enabled", 0)), ""),  # must mask
    ({"name": "a", "state": "started"}, _out(SHOW.replace("loaded", "not-found")), ""),  # missing
    ({"name": "a", "state": "started"}, _out(SHOW + "LoadError=bad\n"), ""),  # load error
    ({"name": "a", "state": "started"}, _out(rc=1), ""),
    ({"name": "a", "state": "started"}, _out(), "Running in chroot, ignoring request.\n"),
    ({"name": "a", "state": "started"}, "@mi-systemd-reload-failed\n", ""),
    ({"name": "a", "state": "started"}, "@mi-systemd show\nLoadState=loaded\n", ""),  # cut short
    ({"name": "a", "state": "started"}, "", ""),
])
def test_a_unit_that_must_change_or_an_odd_answer_goes_to_the_module(args, out, err):
    assert mss.judge(mss.request(args, check_mode=False), out, err) is None


def test_a_name_alone_gets_the_units_status():
    req = mss.request({"name": "a"}, check_mode=False)
    assert mss.judge(req, _out(), "") == {"name": "a", "changed": False, "status": mss.parse_systemctl_show(SHOW.split("\n"))}


def test_masked_and_disabled_units_in_order():
    req = mss.request({"name": "a", "masked": True}, check_mode=False)
    masked = SHOW.replace("LoadState=loaded", "LoadState=masked") + "LoadError=masked\n"
    assert mss.judge(req, _out(masked, enabled=("masked", 1)), "")["changed"] is False
    req = mss.request({"name": "a", "enabled": False, "state": "stopped"}, check_mode=False)
    stopped = SHOW.replace("=active", "=inactive")
    assert mss.judge(req, _out(stopped, enabled_l=("disabled", 1)), "")["enabled"] is False
    # an init script beside an enabled unit: the module decides on systemctl's answer alone
    req = mss.request({"name": "a", "enabled": True}, check_mode=False)
    assert mss.judge(req, _out(enabled_l=("enabled", 0), initd=True), "")["enabled"] is True


def test_an_init_script_beside_the_unit_is_read_as_the_module_reads_it():
    """systemctl's answer first ("disabled" is disabled, whatever the links), then the SysV
    start links (module_utils.service.sysv_is_enabled) for exit status 1."""
    off = mss.request({"name": "a", "enabled": False}, check_mode=False)
    on = mss.request({"name": "a", "enabled": True}, check_mode=False)
    assert "/etc/rc?.d/S??a;" in mss.command(on)
    assert mss.judge(off, _out(enabled_l=("disabled", 1), initd=True, sysv=True), "")["enabled"] is False
    assert mss.judge(off, _out(enabled_l=("masked", 1), initd=True), "")["enabled"] is False
    assert mss.judge(on, _out(enabled_l=("masked", 1), initd=True, sysv=True), "")["enabled"] is True
    assert mss.judge(off, _out(enabled_l=("masked", 3), initd=True, sysv=True), "")["enabled"] is False


MISSING = SHOW.replace("LoadState=loaded", "LoadState=not-found")
NO_FILE = "Failed to get unit file state for a.service: No such file or directory\n"


@pytest.mark.parametrize("args", [
    {"name": "a", "enabled": True, "state": "started", "mi_missing": "skip"},
    {"name": "a", "enabled": False, "state": "stopped", "mi_missing": "skip"},
    {"name": "a", "mi_missing": "skip"},
])
def test_mi_missing_skip_skips_a_unit_that_is_not_installed(args):
    """systemctl show says not-found and there is no init script: the task is skipped, even
    though is-enabled complained on stderr (its answer for a missing unit)."""
    result = mss.judge(mss.request(args, check_mode=True), _out(MISSING, enabled_l=("", 1)), NO_FILE)
    assert result == {"name": "a", "changed": False, "skipped": True,
                      "skip_reason": "the unit a is not installed (mi_missing: skip)"}


def test_mi_missing_skips_nothing_else():
    skip = {"name": "a", "enabled": True, "state": "started", "mi_missing": "skip"}
    # without the option (or with fail), a missing unit is the module's to fail on
    for args in ({k: v for k, v in skip.items() if k != "mi_missing"}, {**skip, "mi_missing": "fail"}):
        assert mss.judge(mss.request(args, check_mode=True), _out(MISSING, enabled_l=("", 1)), NO_FILE) is None
    req = mss.request(skip, check_mode=True)
    # an init script of that name: the module finds the service
    assert mss.judge(req, _out(MISSING, enabled_l=("", 1), initd=True), NO_FILE) is None
    # an installed unit in order: the module's result, not a skip
    assert mss.judge(req, _out(enabled_l=("enabled", 0)), "")["changed"] is False
    assert "skipped" not in mss.judge(req, _out(enabled_l=("enabled", 0)), "")
    # an installed unit that must change, or a show that failed: the module
    assert mss.judge(req, _out(SHOW.replace("=active", "=inactive"), enabled_l=("enabled", 0)), "") is None
    assert mss.judge(req, _out(MISSING, rc=1), "") is None


@pytest.mark.parametrize("args", [
    {"name": "a", "state": "restarted", "daemon_reload": True, "mi_missing": "skip"},
    {"name": "a", "state": "reloaded", "mi_missing": "skip"},
    {"name": "a", "state": "started", "no_block": True, "mi_missing": "skip"},
])
def test_mi_missing_skip_on_a_task_the_module_carries_out_asks_first(args):
    """A handler (restarted, reloaded, no_block) with mi_missing: skip: skipped when the unit is
    not installed, else the module's (the action answers nothing itself)."""
    req = mss.request(args, check_mode=False)
    assert req["probe"] and req["reload"] is bool(args.get("daemon_reload"))
    assert _reloads_first(mss.command(req)) is bool(args.get("daemon_reload"))
    assert mss.judge(req, _out(MISSING), NO_FILE)["skipped"] is True
    assert mss.judge(req, _out(), "") is None
    assert mss.judge(req, _out(MISSING, initd=True), "") is None
    assert mss.request({k: v for k, v in args.items() if k != "mi_missing"}, check_mode=False) is None
    assert mss.request({**args, "name": "a*"}, check_mode=False) is None
    assert mss.request({**args, "daemon_reexec": True}, check_mode=False) is None
    # the probe asks the system manager: a unit of another scope is the module's to find
    assert mss.request({**args, "scope": "user"}, check_mode=False) is None


def _needs_reload(tmp_path: Path, real: float, mono_ago: float, unit_path: list[Path]) -> bool:
    """mi_needs_reload's answer when systemd says it loaded its units at wall-clock time ``real``
    and ``mono_ago`` seconds ago on its monotonic clock, with ``unit_path`` as its UnitPath
    (systemctl answers from a script; the files, find, date and /proc/uptime are this machine's)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    proc = _run_needs_reload(tmp_path, f"UnitPath={' '.join(map(str, unit_path))}\nUnitsLoadTimestamp=@{int(real)}\n"
                                       f"UnitsLoadTimestampMonotonic={int((uptime - mono_ago) * 1e6)}\n")
    assert proc.returncode in (0, 1) and proc.stdout == "", (proc.stdout, proc.stderr)
    return proc.returncode == 0


def test_the_reload_check_reads_change_times_on_both_clocks(tmp_path):
    """A file of the unit path changed after the last load needs a reload, whatever its
    modification time; none changed, no reload; systemd's own directories (transient units,
    .control, generator output) never count; when the wall clock was stepped after the load,
    the monotonic clock still places the load before the change."""
    units, transient, control, generator = (tmp_path / n for n in ("system", "transient", "system.control",
                                                                    "generator.late"))
    for d in (units, transient, control, generator):
        d.mkdir()
    path = [units, transient, control, generator]
    (units / "a.service").write_text("[Service]\n")
    for f in (units / "a.service", units):
        os.utime(f, (946684800, 946684800))  # 2000-01-01, as a package's file: only the ctimes are new
    now = time.time()
    assert _needs_reload(tmp_path, now - 100, 100, path)  # loaded before the file was written
    assert not _needs_reload(tmp_path, now + 100, -100, path)  # loaded after it
    assert _needs_reload(tmp_path, now + 100, 100, path)  # the wall clock went back 200 s since the load
    assert _needs_reload(tmp_path, now - 100, -100, path)  # forward: the wall clock's time counts
    (units / "a.service").unlink()
    assert _needs_reload(tmp_path, now - 100, 100, path)  # a removed file changes its directory
    loaded = time.time()
    (transient / "session-1.scope").write_text("[Scope]\n")
    (control / "a.service.d").mkdir()
    (generator / "x.mount").write_text("[Mount]\n")
    assert not _needs_reload(tmp_path, loaded, 0, [transient, control, generator])
    later = tmp_path / "later"
    later.mkdir()
    (later / "b.service").write_text("[Service]\n")
    assert _needs_reload(tmp_path, loaded, 0, [later, transient, control, generator])
