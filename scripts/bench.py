#!/usr/bin/env python3
"""make bench: converge and audit terminal containers over real SSH and print the figures.

    scripts/bench.py [--sizes 1,10,30] [--profile] [--json FILE] [--keep] [--no-wait]

Not a test: it measures (docs/BENCHMARKS.md says what, how, and the figures of this
machine). What it does, on one run:

1. builds (once, cached by recipe) `mi-harden/bench:bookworm`: the project's own
   `mi-harden/debian:bookworm` with openssh-server and a non-root management user
   `mibench` with sudo (scripts/bench/Dockerfile);
2. starts `mi-bench-01` from it with the shared container settings
   (molecule/resources/platform.yml: explicit capabilities, no --privileged, systemd as
   PID 1) and the controller's bench key authorised for `mibench`;
3. times the full converge of that fresh terminal (playbooks/site.yml over SSH, as
   mibench with become), the second converge (and counts its changed tasks: must be 0),
   and the check-mode audit of the now compliant terminal (playbooks/audit.yml);
4. `docker commit`s the converged terminal and starts the other terminals from that image
   (a full converge installs ClamAV, AIDE... from Debian's mirror: 30 of them would measure
   the mirror, not mi-harden), then times audits of N = 1, 10 and 30 terminals.

With --mitogen it also converges a second fresh terminal (mi-bench-m1), converges it
again and audits it under the opt-in strategy mitogen_linear (strategy_plugins/), compares
that report, control by control, with the linear audit's, and audits the N terminals once
more under it.

With --compare REV it only measures what a change is worth: one terminal from the
converged image a --keep-image run left, audited in turns by the tree at git REV (a
worktree, the same venv) and by the working tree (--rounds pairs, each strategy with
--mitogen), each pair's reports compared control by control. With --compare-playbook
site.yml the pairs are converges of that converged terminal (the second converge's path),
each held to zero changed tasks.

With --collect N[,N...] it only times the central collection of pull mode
(playbooks/collect_reports.yml with reports_from: no terminal contacted) over N terminals'
reports, copies of one real audit report (the newest report-audit-compliant/report.json
an earlier bench run left in the work directory; else one built from the catalog without
evidence), and prints the sizes of the fleet report's files and of its overview. With
--collect-sites K the terminals are spread over K sites and the collection also writes a
report per site (site_reports=true).

For each run it reads the CPU time of the controller (ansible-playbook and its ssh
processes, kept in a cgroup of their own) and of the terminals (their Docker cgroups),
the controller's peak memory, the tasks run per host from the play recap, and, with
--profile, the ten slowest tasks (callback ansible.posix.profile_tasks, enabled for the
bench runs only through ANSIBLE_CALLBACKS_ENABLED). Every container it starts is named
mi-bench-NN, labelled mi-harden.bench, and removed at the end (--keep leaves them).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCH_IMAGE = "mi-harden/bench:bookworm"
CONVERGED_IMAGE = "mi-harden/bench-converged:bookworm"
BASE_IMAGE = "mi-harden/debian:bookworm"
LABEL = "mi-harden.bench"
USER = "mibench"
MGMT_NET = "172.17.0.0/16"  # Docker's default bridge: where the controller is, seen from a terminal
CORES = os.cpu_count() or 1


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*cmd: str, check: bool = True, capture: bool = True, stdin: str | None = None) -> str:
    res = subprocess.run(cmd, check=False, text=True, input=stdin,
                         stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.STDOUT if capture else None)
    if check and res.returncode != 0:
        raise SystemExit(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout or ''}")
    return (res.stdout or "").strip()


# ------------------------------------------------------------------ machine and load
def load1() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(max_wait: int, threshold: float = 1.5) -> float:
    """Wait (60 s steps, max_wait s at most) until the 1-minute load is at most threshold."""
    waited = 0
    while load1() > threshold and waited < max_wait:
        log(f"load {load1():.2f} > {threshold}: waiting 60 s ({waited} s waited)")
        time.sleep(60)
        waited += 60
    return load1()


# The same pure-Python work every time: its CPU seconds say how fast this machine's cores
# are at the moment. On a VM they are not constant (session 7: 0.50 to 0.96 s for this loop
# between quiet minutes). A reading printed beside the runs, never used to correct them: a
# reading just before a run did not predict the run (docs/BENCHMARKS.md, "Session 7").
CPU_UNIT_CODE = ("import time\nt = time.process_time()\ns = 0\n"
                 "for i in range(5_000_000):\n    s += i * i % 7\n"
                 "print(time.process_time() - t)")


def cpu_unit(parallel: int = 1) -> list[float]:
    """CPU seconds the fixed work (CPU_UNIT_CODE) takes in each of `parallel` processes run
    at once (1: one core busy; CORES: all of them, as during a fleet audit)."""
    procs = [subprocess.Popen([sys.executable, "-c", CPU_UNIT_CODE], stdout=subprocess.PIPE, text=True)
             for _ in range(parallel)]
    return [round(float(p.communicate()[0]), 3) for p in procs]


def steal_s() -> float:
    """CPU seconds the hypervisor gave to others while this VM wanted them (all cores;
    /proc/stat's steal column, USER_HZ ticks)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def calibrate() -> dict:
    """The CPU unit with one process and with one per core."""
    return {"one": cpu_unit(1), "all_cores": cpu_unit(CORES)}


def machine() -> dict:
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "nproc": CORES,
        "cpu": cpu.group(1).strip() if cpu else "?",
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": os.uname().release,
        "docker": sh("docker", "version", "--format", "{{.Server.Version}}"),
        "ansible_core": sh(str(ROOT / ".venv/bin/ansible"), "--version").splitlines()[0],
        "python": sys.version.split()[0],
    }


# ------------------------------------------------------------------ cgroups (v1)
class ControllerCgroup:
    """A cpuacct and a memory cgroup, children of this process's own, for ansible-playbook
    and everything it starts (ssh ControlPersist masters included, which daemonise and so
    escape getrusage)."""

    def __init__(self, name: str) -> None:
        self.dirs = {}
        own = dict(line.split(":", 2)[1:] for line in Path("/proc/self/cgroup").read_text().splitlines())
        for ctrl in ("cpuacct", "memory"):
            base = Path("/sys/fs/cgroup") / ctrl / own.get(ctrl, "/").lstrip("/")
            d = base / name
            d.mkdir(exist_ok=True)
            self.dirs[ctrl] = d

    def enter(self) -> None:  # in the child, before exec
        for d in self.dirs.values():
            (d / "tasks").write_text(str(os.getpid()))

    def cpu_ns(self) -> int:
        return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text())

    def rss(self) -> int:
        stat = dict(l.split() for l in (self.dirs["memory"] / "memory.stat").read_text().splitlines())
        return int(stat.get("total_rss", stat.get("rss", 0)))

    def pids(self) -> list[int]:
        return [int(p) for p in (self.dirs["cpuacct"] / "cgroup.procs").read_text().split()]

    def reset_peak(self) -> None:
        (self.dirs["memory"] / "memory.max_usage_in_bytes").write_text("0")

    def peak(self) -> int:
        return int((self.dirs["memory"] / "memory.max_usage_in_bytes").read_text())

    def remove(self) -> None:
        for d in self.dirs.values():
            try:
                for pid in (d / "cgroup.procs").read_text().split():
                    (d.parent / "cgroup.procs").write_text(pid)
                d.rmdir()
            except OSError:
                pass


def container_cpu_ns(ids: list[str]) -> int:
    total = 0
    for cid in ids:
        p = Path("/sys/fs/cgroup/cpuacct/docker") / cid / "cpuacct.usage"
        if p.exists():
            total += int(p.read_text())
    return total


# ------------------------------------------------------------------ terminals
def platform_args() -> list[str]:
    p = yaml.safe_load((ROOT / "molecule/resources/platform.yml").read_text())
    args = ["--cap-drop", "ALL"]
    for cap in p["mi_container_capabilities"]:
        args += ["--cap-add", cap]
    for opt in p["mi_container_security_opts"]:
        args += ["--security-opt", opt]
    args += ["--cgroupns", p["mi_container_cgroupns_mode"]]
    for vol in p["mi_container_volumes"]:
        args += ["-v", vol]
    for tmp in p["mi_container_tmpfs"]:
        args += ["--tmpfs", tmp]
    return args


def ensure_bench_image() -> None:
    recipe = (ROOT / "scripts/bench/Dockerfile").read_bytes()
    base_id = sh("docker", "image", "inspect", "-f", "{{.Id}}", BASE_IMAGE)
    want = hashlib.sha256(recipe + base_id.encode()).hexdigest()[:16]
    have = sh("docker", "image", "inspect", "-f", '{{ index .Config.Labels "mi-harden.bench.recipe" }}',
              BENCH_IMAGE, check=False)
    if have == want:
        return
    log(f"building {BENCH_IMAGE} (recipe {want})")
    sh("docker", "build", "-q", "-t", BENCH_IMAGE, "--label", f"mi-harden.bench.recipe={want}",
       str(ROOT / "scripts/bench"))


INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_PER_TERMINAL = 16  # systemd, journald, logind, dbus, clamonacc...: about 7 each, with margin


def ensure_inotify(terminals: int) -> None:
    """Every terminal's systemd and daemons hold inotify instances of the same (root) user:
    at Debian's default of 128, the 19th of 30 terminals failed to boot (systemd exited).
    Raise the host's limit, or stop and say how."""
    need = 128 + INOTIFY_PER_TERMINAL * terminals
    have = int(INOTIFY.read_text())
    if have >= need:
        return
    try:
        INOTIFY.write_text(f"{need}\n")
        log(f"fs.inotify.max_user_instances {have} -> {need} ({terminals} systemd terminals share root's limit)")
    except OSError as exc:
        raise SystemExit(f"fs.inotify.max_user_instances is {have}; {terminals} terminals need about {need}: "
                         f"sysctl -w fs.inotify.max_user_instances={need} ({exc})") from exc


def start_terminals(names: list[str], image: str, pubkey: str) -> dict[str, dict]:
    ensure_inotify(len(names) + len(sh("docker", "ps", "-q", check=False).split()))
    args = platform_args()
    for name in names:
        sh("docker", "rm", "-f", name, check=False)
        sh("docker", "run", "-d", "--name", name, "--hostname", name, "--label", f"{LABEL}=1",
           *args, image)
    out = {}
    for name in names:
        for _ in range(60):
            state = sh("docker", "exec", name, "timeout", "60", "systemctl", "is-system-running", "--wait",
                       check=False)
            if state in ("running", "degraded"):
                break
            time.sleep(2)
        else:
            raise SystemExit(f"{name}: systemd did not finish booting ({state})")
        sh("docker", "exec", "-i", name, "sh", "-c",
           f"cat >/home/{USER}/.ssh/authorized_keys && chown {USER}: /home/{USER}/.ssh/authorized_keys"
           f" && chmod 0600 /home/{USER}/.ssh/authorized_keys && systemctl start ssh",
           stdin=pubkey + "\n")
        info = json.loads(sh("docker", "inspect", name))[0]
        addr = info["NetworkSettings"]["IPAddress"]
        for _ in range(30):
            try:
                socket.create_connection((addr, 22), timeout=2).close()
                break
            except OSError:
                time.sleep(1)
        out[name] = {"id": info["Id"], "address": addr}
    return out


def settle(ids: list[str], max_wait: int = 120) -> float:
    """Wait until freshly booted terminals are idle (under 0.05 core each over 5 s): their
    first minutes (clamd loading signatures, timers catching up) are not the audit's CPU."""
    t0 = time.monotonic()
    while True:
        a = container_cpu_ns(ids)
        time.sleep(5)
        rate = (container_cpu_ns(ids) - a) / 5e9 / max(len(ids), 1)
        if rate < 0.05 or time.monotonic() - t0 > max_wait:
            return rate


def remove_terminals() -> None:
    ids = sh("docker", "ps", "-aq", "--filter", f"label={LABEL}", check=False).split()
    if ids:
        sh("docker", "rm", "-f", *ids, check=False)


def write_inventory(path: Path, hosts: dict[str, dict], key: Path, pubkey: str) -> None:
    """hosts.yml (group bench under site_lab, as a site's terminals) and group_vars/bench.yml.

    The bench's policy values go to group_vars/bench.yml, not to the inventory file: the
    example inventory's group_vars/ files take precedence over variables of an inventory
    file, whatever the group depth; among group_vars/ files the deeper group (bench) wins.
    """
    inv = {"all": {"children": {"terminals": {"children": {"site_lab": {"children": {"bench": {
        "hosts": {n: {"ansible_host": h["address"]} for n, h in sorted(hosts.items())},
    }}}}}}}}
    path.write_text("---\n# Generated by scripts/bench.py for one bench run.\n" + yaml.safe_dump(inv, sort_keys=False))
    gv = {
        # a real terminal: SSH with a key, a non-root management user, sudo
        "ansible_connection": "ssh",
        "ansible_user": USER,
        "ansible_become": True,
        "ansible_ssh_private_key_file": str(key),
        # the bench terminals reuse addresses with new host keys: keep root's known_hosts
        # out of it (host_key_checking is off in ansible.cfg)
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null",
        # the lab's policy, plus who manages the bench terminals and from where:
        # remote_access keeps this user, its key and this network able to log in;
        # network_isolation's management networks of site_lab (172.16.0.0/12) already hold
        # the Docker bridge the controller is on.
        "mi_management_user": USER,
        "mi_management_ssh_keys": [pubkey],
        "mi_management_networks": [MGMT_NET],
    }
    (path.parent / "group_vars").mkdir(exist_ok=True)
    (path.parent / "group_vars" / "bench.yml").write_text(
        "---\n# Generated by scripts/bench.py for one bench run.\n" + yaml.safe_dump(gv, sort_keys=False))


# ------------------------------------------------------------------ one measured run
# Each choice of ansible.cfg undone in turn, on the probe playbook (scripts/bench/settings.yml).
SETTINGS = [
    ("as ansible.cfg", {}),
    ("pipelining off", {"ANSIBLE_PIPELINING": "false"}),
    ("no ControlPersist", {"ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o PreferredAuthentications=publickey"}),
    ("gathering implicit, no cache", {"ANSIBLE_GATHERING": "implicit"}),
    ("gather_subset all", {"ANSIBLE_GATHER_SUBSET": "all"}),
    ("callback profile_tasks on", {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}),
    ("interpreter discovery (auto_silent)", {"ANSIBLE_PYTHON_INTERPRETER": "auto_silent"}),
    # The project's plugins without a cached .pyc (the bench removes them first): what a
    # controller whose environment sets PYTHONDONTWRITEBYTECODE pays on every task.
    ("plugins without .pyc", {"PYTHONDONTWRITEBYTECODE": "1"}),
]
MITOGEN = {"ANSIBLE_STRATEGY": "mitogen_linear"}
PLUGIN_DIRS = ("filter_plugins", "callback_plugins", "strategy_plugins", "action_plugins")

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
                   r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)
PROFILE = re.compile(r"^(.+?) -+ (\d+\.\d+)s$", re.M)


class UnitSampler(threading.Thread):
    """The CPU unit (cpu_unit) every `every` seconds while a run goes on: whether the cores
    themselves do the same work slower during the run (caches shared with the run's
    processes, other tenants of the VM) than before it. Its processes are outside the
    controller's cgroup and the terminals', so they are not counted in the run's CPU."""

    def __init__(self, every: float) -> None:
        super().__init__(daemon=True)
        self.every, self.samples, self.stop = every, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.samples.append(cpu_unit(1)[0])


def run_playbook(label: str, playbook: str, inventory: Path, limit: str, ids: list[str],
                 cg: ControllerCgroup, workdir: Path, profile: bool, extra: list[str] = (),
                 env_extra: dict | None = None, root: Path = ROOT, sample_every: float = 0) -> dict:
    """One timed ansible-playbook run; root is the project tree it runs (--compare: another
    commit's worktree, with the same venv); sample_every > 0 takes the CPU unit during the
    run every so many seconds."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(root / "ansible.cfg")
    env["PATH"] = f"{ROOT / '.venv/bin'}:{env['PATH']}"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(workdir / "cp")
    # As make does (Makefile: unexport): the project's plugins keep their .pyc, unless a
    # probe asks for the opposite (env_extra).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if profile:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
        env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "10"
        env["PROFILE_TASKS_SORT_ORDER"] = "descending"
    env.update(env_extra or {})
    book = Path(playbook) if "/" in playbook else root / "playbooks" / playbook
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(root / "inventories/example"),
           "-i", str(inventory), "--limit", limit, str(book), *extra]
    unit = cpu_unit(1)[0]
    load = load1()
    cg.reset_peak()
    peak_rss = 0
    term0, ctl0, steal0 = container_cpu_ns(ids), cg.cpu_ns(), steal_s()
    sampler = UnitSampler(sample_every) if sample_every > 0 else None
    t0 = time.monotonic()
    if sampler:
        sampler.start()
    logf = workdir / f"{re.sub(r'[^A-Za-z0-9_.=-]+', '_', label)}.log"
    with logf.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=cg.enter)
        while proc.poll() is None:
            peak_rss = max(peak_rss, cg.rss())
            time.sleep(0.2)
    wall = time.monotonic() - t0
    steal = steal_s() - steal0
    if sampler:
        sampler.stop.set()
        sampler.join()
    # The persistent SSH masters of this run (ControlPersist) are still in the cgroup: end
    # them, so that every run starts from cold connections as a fresh fleet run does.
    for pid in cg.pids():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    ctl_ns, term_ns = cg.cpu_ns() - ctl0, container_cpu_ns(ids) - term0
    text = logf.read_text()
    recap = {m.group(1): [int(x) for x in m.groups()[1:]] for m in RECAP.finditer(text)}
    hosts = len(recap) or 1
    tasks = sum(v[0] + v[3] + v[2] for v in recap.values()) / hosts  # ok (incl. changed) + failed + unreachable
    res = {
        "label": label, "playbook": book.name, "tree": str(root), "env": env_extra or {}, "hosts": len(recap), "rc": proc.returncode,
        "load1_before": round(load, 2), "wall_s": round(wall, 1),
        "hosts_per_min": round(len(recap) / wall * 60, 1) if wall else 0,
        "changed": sum(v[1] for v in recap.values()),
        "failed": sum(v[3] + v[2] for v in recap.values()),
        "tasks_per_host": round(tasks, 1),
        "skipped_per_host": round(sum(v[4] for v in recap.values()) / hosts, 1),
        "ms_per_task": round(wall / tasks * 1000) if tasks else 0,
        "cpu_controller_s": round(ctl_ns / 1e9, 1), "cpu_terminals_s": round(term_ns / 1e9, 1),
        "cpu_per_host_s": round((ctl_ns + term_ns) / 1e9 / hosts, 2),
        "controller_peak_rss_mib": round(peak_rss / 2**20), "controller_peak_mem_mib": round(cg.peak() / 2**20),
        "cpu_unit_s": unit, "steal_s": round(steal, 1),
        "cpu_unit_during_s": (
            {"n": len(sampler.samples), "mean": round(sum(sampler.samples) / len(sampler.samples), 3),
             "min": min(sampler.samples), "max": max(sampler.samples)} if sampler and sampler.samples else None),
        "log": str(logf),
    }
    if profile:
        block = text.split("=" * 20)[-1] if "=" * 20 in text else text
        res["slowest"] = [(n.strip(), float(s)) for n, s in PROFILE.findall(block)][:10]
    with (workdir / "runs.jsonl").open("a") as f:  # figures so far, should the run be cut short
        f.write(json.dumps(res, ensure_ascii=False) + "\n")
    flag = "" if proc.returncode == 0 else f"  (rc {proc.returncode}: see {logf})"
    during = f", CPU unit {unit} s before, {res['cpu_unit_during_s']} during" if sampler else f", CPU unit {unit} s"
    log(f"{label}: {res['wall_s']} s, {res['hosts']} host(s), changed {res['changed']}, failed {res['failed']}, "
        f"{res['tasks_per_host']} tasks/host, CPU {res['cpu_per_host_s']} s/host{during}{flag}")
    return res


def run_probes(names: list[str], inventory: Path, ids: list[str], cg: ControllerCgroup, workdir: Path,
               max_wait: int, settings: bool = True, forks_list: list[int] | None = None) -> list[dict]:
    """The probe playbook under ansible.cfg as it is and with each choice undone (on two
    terminals; not with settings False), then with forks up to the number of terminals (on
    all of them; forks_list: those values instead of 2, 5, 10, 20, 30)."""
    probe = str(ROOT / "scripts/bench/settings.yml")
    two = ",".join(names[:2])
    # Not counted: the first run creates the probe's files on every terminal, and would
    # make the first setting look slower than it is.
    run_playbook("probe warm-up", probe, inventory, "all", ids, cg, workdir, False)
    runs = []
    for label, env in SETTINGS if settings else []:
        if env.get("PYTHONDONTWRITEBYTECODE"):  # without the .pyc files earlier runs wrote
            for d in PLUGIN_DIRS:
                shutil.rmtree(ROOT / d / "__pycache__", ignore_errors=True)
        wait_for_quiet(max_wait)
        runs.append(run_playbook(f"probe {label}", probe, inventory, two, ids, cg, workdir, False, env_extra=env))
    # Forks up to the number of terminals (more cannot be used): whether fewer workers
    # than terminals lose throughput on the controller's cores.
    for forks in [f for f in (forks_list or (2, 5, 10, 20, 30)) if f <= len(names)]:
        wait_for_quiet(max_wait)
        runs.append(run_playbook(f"probe N={len(names)} forks={forks}", probe, inventory, "all", ids, cg, workdir,
                                 False, env_extra={"ANSIBLE_FORKS": str(forks)}))
    return runs


def control_statuses(report: Path) -> dict[str, str]:
    """Control id -> status of every host of an audit's report.json, host names left out
    (two terminals audited the same way must give the same map)."""
    data = json.loads(report.read_text())
    return {f"{i}:{cid}": c["status"] for i, h in enumerate(data["hosts"].values())
            for cid, c in sorted(h["controls"].items())}


def same_report(a: Path, b: Path) -> dict:
    """Compare the control statuses of two audits (linear and mitogen_linear)."""
    try:
        sa, sb = control_statuses(a / "report.json"), control_statuses(b / "report.json")
    except (OSError, ValueError, KeyError) as exc:
        return {"same": False, "why": f"report not readable: {exc}"}
    diff = sorted(k for k in sa.keys() | sb.keys() if sa.get(k) != sb.get(k))
    return {"same": not diff, "controls": len(sa), "differ": [f"{k}: {sa.get(k)} / {sb.get(k)}" for k in diff]}


def efficiency(n_res: dict, one_cpu: float) -> float:
    return round((n_res["hosts"] * one_cpu / CORES) / n_res["wall_s"], 2) if n_res["wall_s"] else 0.0


def print_table(results: dict) -> None:
    m = results["machine"]
    print(f"\nmachine: {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, kernel {m['kernel']}, "
          f"docker {m['docker']}, {m['ansible_core']}")
    print(f"{'run':<34}{'hosts':>6}{'wall s':>9}{'hosts/min':>10}{'changed':>8}{'tasks/h':>8}{'ms/task':>8}"
          f"{'CPU s/h':>9}{'ctl CPU':>8}{'term CPU':>9}{'ctl MiB':>8}{'load':>6}{'unit s':>7}{'steal':>6}")
    for r in results["runs"]:
        print(f"{r['label']:<34}{r['hosts']:>6}{r['wall_s']:>9}{r['hosts_per_min']:>10}{r['changed']:>8}"
              f"{r['tasks_per_host']:>8}{r['ms_per_task']:>8}{r['cpu_per_host_s']:>9}"
              f"{r['cpu_controller_s']:>8}{r['cpu_terminals_s']:>9}"
              f"{r['controller_peak_rss_mib']:>8}{r['load1_before']:>6}{r.get('cpu_unit_s', '-'):>7}"
              f"{r.get('steal_s', '-'):>6}")
    for r in results["runs"]:
        if r.get("cpu_unit_during_s"):
            print(f"CPU unit, {r['label']}: {unit_cell(r)}")
        if "report_mib" in r:
            print(f"{r['label']}: {r['reports_in_mib']} MiB of terminal reports in, fleet report MiB {r['report_mib']}")
    for when, c in results.get("calibration", {}).items():
        print(f"CPU unit {when}: {c['one']} s alone, {c['all_cores']} s with every core busy")
    for k, v in results.get("efficiency", {}).items():
        print(f"scaling efficiency {k}: {v}")
    if "mitogen_same_report" in results:
        print(f"mitogen audit, control by control, as the linear audit: {results['mitogen_same_report']}")
    t = results.get("targets", {})
    for k, v in t.items():
        print(f"target {k}: {'met' if v['met'] else 'MISSED'} ({v['value']})")
    for r in results["runs"]:
        if r.get("slowest"):
            print(f"\nten slowest tasks, {r['label']}:")
            for name, secs in r["slowest"]:
                print(f"  {secs:7.2f} s  {name}")


def unit_cell(r: dict) -> str:
    """The CPU unit before a run, and its mean (min-max) during the run when it was sampled."""
    d = r.get("cpu_unit_during_s")
    during = f"; during: {d['mean']} ({d['min']}-{d['max']}, {d['n']} samples)" if d else ""
    return f"{r.get('cpu_unit_s', '')}{during}"


def markdown(run_dir: Path) -> None:
    """The figures of a (finished or cut short) run as Markdown, for docs/BENCHMARKS.md."""
    jl = run_dir / "runs.jsonl"
    runs = ([json.loads(l) for l in jl.read_text().splitlines() if l.strip()] if jl.exists()
            else json.loads((run_dir / "results.json").read_text())["runs"])
    print("| run | hosts | load | wall s | hosts/min | changed | failed | tasks/host | ms/task "
          "| controller CPU s | terminals CPU s | CPU s per terminal | controller peak RSS MiB "
          "| CPU unit s | steal s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['label']} | {r['hosts']} | {r['load1_before']} | {r['wall_s']} | {r['hosts_per_min']} "
              f"| {r['changed']} | {r['failed']} | {r['tasks_per_host']} | {r['ms_per_task']} "
              f"| {r['cpu_controller_s']} | {r['cpu_terminals_s']} | {r['cpu_per_host_s']} "
              f"| {r['controller_peak_rss_mib']} | {unit_cell(r)} | {r.get('steal_s', '')} |")
    for r in runs:
        if r.get("slowest"):
            print(f"\nTen slowest tasks, {r['label']}:\n")
            print("| s | task |\n|---|---|")
            for name, secs in r["slowest"]:
                cell = name.replace("|", "\\|")
                print(f"| {secs:.2f} | {cell} |")


def run_fleet_audits(sizes: list[int], strategies: list, names: list[str], inventory: Path, ids: list[str],
                     cg: ControllerCgroup, workdir: Path, args: argparse.Namespace, results: dict) -> None:
    """Audits of N = each size terminals (the first N), under each strategy (N > 1: with
    each of --forks, if given), then the scaling efficiency of each N > 1 against the N = 1
    run of the same strategy."""
    eff = results.setdefault("efficiency", {})
    ones: dict[str, dict] = {}  # the N = 1 run of each strategy
    for n in sizes:
        for suffix, env in strategies:
            for forks in fleet_forks(n, args.forks):
                name = f"{n}{suffix}" + (f"_forks{forks}" if forks else "")  # label, report and efficiency key
                wait_for_quiet(args.max_wait)
                run = run_playbook(
                    f"audit_N={name}", "audit.yml", inventory, ",".join(names[:n]), ids, cg, workdir,
                    args.profile, ["-e", f"report_dir={workdir}/report-N{name.replace('_', '-')}"],
                    env_extra={**(env or {}), **({"ANSIBLE_FORKS": str(forks)} if forks else {})},
                    sample_every=args.sample_unit if n > 1 else 0)
                results["runs"].append(run)
                if n == 1:
                    ones[suffix] = run
                elif suffix in ones:
                    eff[f"N={name.replace('_', ' ')}"] = efficiency(run, ones[suffix]["cpu_per_host_s"])


def fleet_forks(n: int, forks: list[int] | None) -> list[int | None]:
    """The forks each audit of n terminals runs with: None (ansible.cfg's) for one terminal
    or when --forks is not given, else each value of --forks."""
    return [None] if n == 1 or not forks else list(forks)


def run_compare(rev: str, rounds: int, strategies: list, names: list[str], pubkey: str, key: Path,
                inventory: Path, cg: ControllerCgroup, workdir: Path, args: argparse.Namespace,
                results: dict) -> None:
    """--compare REV: what a change is worth. One terminal from the converged image, audited
    (or with --compare-playbook site.yml converged) in turns by the tree at REV (a git
    worktree, the same venv) and by the working tree, under each strategy, ROUNDS times; each
    pair of audits' reports compared control by control, each pair of converges held to zero
    changed tasks."""
    book = args.compare_playbook
    kind = "audit" if book == "audit.yml" else "converge"
    old = workdir / f"tree-{rev}"
    sh("git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(old), rev)
    try:
        hosts = start_terminals(names[:1], CONVERGED_IMAGE, pubkey)
        write_inventory(inventory, hosts, key, pubkey)
        ids = [h["id"] for h in hosts.values()]
        settle(ids)
        results["compare"] = {"rev": rev, "pairs": []}
        for r in range(rounds):
            for suffix, env in strategies:
                runs = {}
                for tree, root in ((rev, old), ("worktree", ROOT)):
                    label = f"{kind}_{tree}{suffix}_{r}"
                    wait_for_quiet(args.max_wait)
                    extra = (["-e", f"report_dir={workdir}/report-{label}"] if book == "audit.yml"
                             else ["--diff"])  # a converge that changes something shows what
                    runs[tree] = run_playbook(label, book, inventory, names[0], ids, cg, workdir, args.profile,
                                              extra, env_extra=env, root=root)
                    results["runs"].append(runs[tree])
                if book == "audit.yml":
                    same = same_report(workdir / f"report-{runs[rev]['label']}",
                                       workdir / f"report-{runs['worktree']['label']}")
                else:  # the terminal is converged: a converge by either tree must change nothing
                    changed = {tree: run["changed"] for tree, run in runs.items()}
                    same = {"same": not any(changed.values()), "changed": changed}
                results["compare"]["pairs"].append({"round": r, "strategy": suffix or "_linear", **same})
                log(f"{rev} against the working tree{suffix}, round {r}: {same}")
    finally:
        sh("git", "-C", str(ROOT), "worktree", "remove", "--force", str(old), check=False)


def collect_source(workdir: Path) -> tuple[dict, str]:
    """One terminal's audit report to copy: a real one from an earlier run, else a synthetic one."""
    found = sorted(workdir.glob("*/report-audit-compliant/report.json"))
    if found:
        return json.loads(found[-1].read_text()), str(found[-1])
    sys.path.insert(0, str(ROOT / "callback_plugins"))
    import mi_audit  # noqa: PLC0415  (the project's report code, only for this mode)
    catalog, clauses = mi_audit.load_catalog()
    policy = {"mi_site": {"id": "site_bench", "name": "Bench"}, "mi_policy_version": "bench"}
    made = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    return (mi_audit.build_report(catalog, clauses, {"mi-fleet-0": {"policy": policy}}, datetime.date.today(), made),
            "synthetic (the catalog's controls, no evidence)")


def write_fleet_reports(base: dict, n: int, where: Path, sites: int = 0) -> Path:
    """N copies of one report as the terminals upload them (DIR/<host>/<timestamp>/report.json),
    made now, and an inventory of those terminals (group collect_fleet under terminals). With
    ``sites``, terminal i belongs to site ``bench-site-<i mod sites>`` instead of the report's."""
    ((_, entry),) = base["hosts"].items()
    made = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    stamp = made.strftime("%Y%m%dT%H%M%SZ")
    src = where / "reports"
    names = [f"mi-fleet-{i:05d}" for i in range(1, n + 1)]
    for i, name in enumerate(names):
        d = src / name / stamp
        d.mkdir(parents=True, exist_ok=True)
        host = dict(entry, site=f"bench-site-{i % sites:04d}") if sites else entry
        (d / "report.json").write_text(json.dumps(dict(base, generated=made.isoformat(), hosts={name: host}),
                                                  ensure_ascii=False))
    inv = {"all": {"children": {"terminals": {"children": {"collect_fleet": {"hosts": dict.fromkeys(names)}}}}}}
    (where / "hosts.yml").write_text(yaml.safe_dump(inv))
    return src


def run_collect(sizes: list[int], cg: ControllerCgroup, workdir: Path, args: argparse.Namespace,
                results: dict) -> None:
    """The central collection of pull mode over N terminals' reports, for each N."""
    base, source = collect_source(Path(args.workdir))
    results["collect_source"] = source
    log(f"collection: copies of {source}")
    k = args.collect_sites
    for n in sizes:
        where = workdir / f"collect-{n}"
        src = write_fleet_reports(base, n, where, k)
        out = where / "fleet"
        res = run_playbook(f"collect N={n}" + (f" sites={k}" if k else ""), "collect_reports.yml", where / "hosts.yml",
                           "collect_fleet", [], cg, workdir, args.profile,
                           ["-e", f"reports_from={src}", "-e", f"fleet_report_dir={out}", "-e", "report_lang=en"]
                           + (["-e", "site_reports=true"] if k else []))
        # One host runs the controller's tasks (run_once); the recap counts only it.
        res["hosts"] = n
        res["hosts_per_min"] = round(n / res["wall_s"] * 60, 1) if res["wall_s"] else 0
        res["cpu_per_host_s"] = round(res["cpu_controller_s"] / n, 4)
        res["report_mib"] = {p.name: round(p.stat().st_size / 2**20, 2)
                             for p in sorted([*out.glob("report.*"), *out.glob("overview.*")])}
        res["reports_in_mib"] = round(sum(p.stat().st_size for p in src.rglob("report.json")) / 2**20, 1)
        log(f"collect N={n}: {res['reports_in_mib']} MiB of reports in, fleet report {res['report_mib']}")
        results["runs"].append(res)
        shutil.rmtree(src)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "1,10,30"),
                    help="audit fleet sizes, comma separated (default 1,10,30)")
    ap.add_argument("--profile", action="store_true", default=os.environ.get("BENCH_PROFILE") == "1",
                    help="enable ansible.posix.profile_tasks and keep the ten slowest tasks")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--workdir", default=os.environ.get("MI_BENCH_DIR", "/var/tmp/mi-bench"))
    ap.add_argument("--settings", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the probe playbook under each ansible.cfg choice (default on; "
                         "--probe-only --no-settings times forks only)")
    ap.add_argument("--keep", action="store_true", help="leave the containers running")
    ap.add_argument("--max-wait", type=int, default=900, help="seconds to wait for the load to drop")
    ap.add_argument("--keep-image", action="store_true",
                    help=f"keep {CONVERGED_IMAGE} for a later --skip-fresh run")
    ap.add_argument("--skip-fresh", action="store_true",
                    help="start from the converged image a previous --keep-image run left (no fresh converge)")
    ap.add_argument("--mitogen", action="store_true",
                    help="also converge a fresh terminal, converge again and audit it under the opt-in "
                         "strategy mitogen_linear, compare its report with the linear audit's, and "
                         "audit the N terminals under it")
    ap.add_argument("--probe-only", action="store_true",
                    help="only the probe of the ansible.cfg choices and of forks, on max(--sizes) terminals "
                         "started from the converged image a previous --keep-image run left")
    ap.add_argument("--compare", metavar="REV",
                    help="only audit one terminal from the converged image with the tree at git REV and "
                         "with the working tree, in turns (what a change is worth; same report?)")
    ap.add_argument("--audits-only", action="store_true",
                    help="only the audits of N = --sizes terminals started from the converged image a "
                         "previous --keep-image run left (and their scaling efficiency: include 1 in --sizes)")
    ap.add_argument("--sample-unit", type=float, default=0, metavar="SECONDS",
                    help="during the audits of N > 1 terminals, take the CPU unit every SECONDS "
                         "(are the cores slower while the fleet runs?); 0, the default: not taken")
    ap.add_argument("--forks", type=lambda v: [int(f) for f in v.split(",") if f], metavar="F[,F...]",
                    help="forks to time: each audit of N > 1 terminals runs once per value (default: "
                         "ansible.cfg's forks), and the probe uses them instead of 2,5,10,20,30")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of --compare (default 2)")
    ap.add_argument("--compare-playbook", choices=["audit.yml", "site.yml"], default="audit.yml",
                    help="what --compare times: the audit (default) or a converge of the converged "
                         "terminal (site.yml: the second converge's path; must change nothing)")
    ap.add_argument("--collect", type=lambda v: sorted({int(n) for n in v.split(",") if n}), metavar="N[,N...]",
                    help="only time the central collection of pull mode (playbooks/collect_reports.yml, "
                         "reports_from) over N terminals' reports; no container")
    ap.add_argument("--collect-sites", type=int, default=0, metavar="K",
                    help="with --collect: spread the terminals over K sites and write a report per site "
                         "(site_reports=true)")
    ap.add_argument("--report", metavar="RUN_DIR",
                    help="print the figures of an earlier run directory as Markdown, and stop")
    args = ap.parse_args()
    if args.collect_sites and not args.collect:
        ap.error("--collect-sites goes with --collect N[,N...]")
    if args.report:
        markdown(Path(args.report))
        return 0
    sizes = sorted({int(s) for s in args.sizes.split(",") if s})
    if (args.skip_fresh or args.probe_only or args.compare or args.audits_only) and not sh("docker", "images", "-q", CONVERGED_IMAGE, check=False):
        raise SystemExit(f"--skip-fresh, --probe-only, --audits-only and --compare start from {CONVERGED_IMAGE}: run "
                         "`make bench BENCH_ARGS=--keep-image` once to make it")
    workdir = Path(args.workdir) / time.strftime("%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    key = Path(args.workdir) / "id_ed25519"
    if not key.exists():
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mi-bench controller", "-f", str(key))
    pubkey = key.with_suffix(".pub").read_text().strip()

    results: dict = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": []}
    log(f"workdir {workdir}; {results['machine']}")
    results["calibration"] = {"start": calibrate()}
    log(f"CPU unit at the start: {results['calibration']['start']}")
    cg = ControllerCgroup(f"mi-bench-{os.getpid()}")
    inventory = workdir / "hosts.yml"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.collect:
        try:
            run_collect(args.collect, cg, workdir, args, results)
        finally:
            cg.remove()
        return finish(results, workdir, args)
    try:
        sh(str(ROOT / "scripts/build-images.sh"), "bookworm", capture=False)
        ensure_bench_image()
        remove_terminals()
        names = [f"mi-bench-{i:02d}" for i in range(1, max(sizes + [1]) + 1)]
        strategies = [("", None)] + ([("_mitogen", MITOGEN)] if args.mitogen else [])
        if args.compare:
            run_compare(args.compare, args.rounds, strategies, names, pubkey, key, inventory, cg, workdir, args,
                        results)
            return finish(results, workdir, args)
        if args.audits_only or args.probe_only:  # all the terminals from the converged image, nothing else
            hosts = start_terminals(names, CONVERGED_IMAGE, pubkey)
            write_inventory(inventory, hosts, key, pubkey)
            ids = [h["id"] for h in hosts.values()]
            log(f"terminals idle: {settle(ids):.3f} core each")
            if args.audits_only:
                run_fleet_audits(sizes, strategies, names, inventory, ids, cg, workdir, args, results)
            else:
                results["runs"] += run_probes(names, inventory, ids, cg, workdir, args.max_wait, args.settings,
                                              args.forks)
            return finish(results, workdir, args)
        first = names[0]
        # The first terminal: fresh from the bench image (full converge, then the second
        # converge and the audit), or with --skip-fresh already converged (the image a
        # previous run kept with --keep-image), converged once more before the second converge.
        image = CONVERGED_IMAGE if args.skip_fresh else BENCH_IMAGE
        hosts = start_terminals([first], image, pubkey)
        write_inventory(inventory, hosts, key, pubkey)
        ids = [h["id"] for h in hosts.values()]
        settle(ids)
        results["load_before_converge"] = wait_for_quiet(args.max_wait)
        phases = [("converge again" if args.skip_fresh else "converge fresh", "site.yml"),
                  ("converge second", "site.yml"), ("audit compliant", "audit.yml")]

        def run_phases(terminal: str, suffix: str, env: dict | None) -> None:
            for label, book in phases:
                name = label.replace(" ", "_") + suffix
                if book == "audit.yml":
                    extra = ["-e", f"report_dir={workdir}/report-{label.replace(' ', '-')}{suffix.replace('_', '-')}"]
                elif label == "converge second":
                    extra = ["--diff"]  # a task that changes shows what (the diff costs nothing when nothing changes)
                else:
                    extra = []
                wait_for_quiet(args.max_wait)
                results["runs"].append(run_playbook(name, book, inventory, terminal, ids, cg, workdir, args.profile,
                                                    extra, env_extra=env))

        run_phases(first, "", None)
        if not args.skip_fresh:
            log(f"docker commit {first} -> {CONVERGED_IMAGE}")
            sh("docker", "commit", "-m", "mi-bench: converged terminal", first, CONVERGED_IMAGE)
        if args.mitogen:
            # A terminal of its own, from the same image the linear runs started from.
            hosts.update(start_terminals(["mi-bench-m1"], image, pubkey))
            write_inventory(inventory, hosts, key, pubkey)
            ids = [h["id"] for h in hosts.values()]
            settle(ids)
            run_phases("mi-bench-m1", "_mitogen", MITOGEN)
            results["mitogen_same_report"] = same_report(workdir / "report-audit-compliant",
                                                         workdir / "report-audit-compliant-mitogen")
            log(f"mitogen audit against the linear audit: {results['mitogen_same_report']}")
            sh("docker", "rm", "-f", "mi-bench-m1", check=False)
            del hosts["mi-bench-m1"]
        others = names[1:]
        if others:
            log(f"starting {len(others)} terminals from {CONVERGED_IMAGE}")
            hosts.update(start_terminals(others, CONVERGED_IMAGE, pubkey))
        write_inventory(inventory, hosts, key, pubkey)
        ids = [h["id"] for h in hosts.values()]
        log(f"terminals idle: {settle(ids):.3f} core each")
        run_fleet_audits(sizes, strategies, names, inventory, ids, cg, workdir, args, results)
        if args.settings:
            results["runs"] += run_probes(names, inventory, ids, cg, workdir, args.max_wait, True, args.forks)
        by = {r["label"]: r for r in results["runs"]}
        one = by.get("audit_N=1")
        tg = {}

        def ok(r: dict) -> bool:  # a run that failed meets no target, however fast
            return r["rc"] == 0 and r["failed"] == 0

        if "converge_second" in by:
            sec = by["converge_second"]
            tg["second converge < 15 s"] = {"value": sec["wall_s"], "met": ok(sec) and sec["wall_s"] < 15}
            tg["changed on second converge = 0"] = {"value": sec["changed"], "met": ok(sec) and sec["changed"] == 0}
        if one:
            tg["audit of one terminal < 15 s"] = {"value": one["wall_s"], "met": ok(one) and one["wall_s"] < 15}
        big = max(sizes)
        if big > 1 and one and f"N={big}" in results["efficiency"]:
            tg[f"efficiency N={big} >= 0.8"] = {"value": results["efficiency"][f"N={big}"],
                                               "met": ok(by[f"audit_N={big}"])
                                               and results["efficiency"][f"N={big}"] >= 0.8}
        results["targets"] = tg
    finally:
        if not args.keep:
            remove_terminals()
            if not args.keep_image and not args.probe_only and not args.compare and not args.audits_only:
                sh("docker", "image", "rm", CONVERGED_IMAGE, check=False)
        cg.remove()
    return finish(results, workdir, args)


def finish(results: dict, workdir: Path, args: argparse.Namespace) -> int:
    """Write results.json (and --json), print the table; 1 when a run failed."""
    results.setdefault("calibration", {})["end"] = calibrate()
    (workdir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        shutil.copy(workdir / "results.json", args.json)
    print_table(results)
    print(f"\nlogs and results: {workdir}")
    return 0 if all(r["rc"] == 0 for r in results["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
