"""Role network_isolation: real traffic between containers on separate Docker networks.

mi-network (the terminal) sits on mi-net-mgmt, mi-net-line and mi-net-inet; the centre is
behind the dedicated-line router on mi-net-centre. Every test that changes the terminal's
rules puts the converged state back before it ends.
"""

import json
import os
import subprocess
import tempfile
import time

import pytest
import testinfra

SCENARIO = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
PROJECT = os.path.abspath(os.path.join(SCENARIO, "..", ".."))
STATE = "/var/lib/mi-harden/network"


# ----------------------------------------------------------------------------- helpers
def _docker_json(*args):
    return json.loads(subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout)


@pytest.fixture(scope="module")
def topo():
    nets = {n["Name"]: n["IPAM"]["Config"][0]["Subnet"]
            for n in _docker_json("network", "inspect", "mi-net-mgmt", "mi-net-line", "mi-net-centre", "mi-net-inet")}
    cts = {c["Name"].lstrip("/"): {k: v["IPAddress"] for k, v in c["NetworkSettings"]["Networks"].items()}
           for c in _docker_json("inspect", "mi-network", "mi-network-mgmt", "mi-network-router",
                                 "mi-network-centre", "mi-network-inet")}
    return {"net": nets, "ip": cts}


def other(name):
    return testinfra.get_host(f"docker://{name}")


PROBE = """
import socket, sys
s = socket.socket(); s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n") if sys.argv[2] != "22" else None
    print("open", s.recv(200).decode(errors="replace").replace("\\n", " "))
except socket.timeout:
    print("timeout")
except OSError as e:
    print("error", e)
"""


def tcp(host, ip, port, timeout=3):
    """What a TCP connection from `host` to ip:port gives: 'open <first bytes>', 'timeout', 'error ...'."""
    return host.run(f"python3 -c '{PROBE}' {ip} {port} {timeout}").stdout.strip()


DNS = """
import socket, struct, sys
q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in sys.argv[2].split(".")) + b"\\0" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
try:
    s.sendto(q, (sys.argv[1], 53)); r = s.recv(512)
    print(socket.inet_ntoa(r[-4:]) if struct.unpack("!H", r[6:8])[0] else "no-answer")
except socket.timeout:
    print("timeout")
"""

NTP = """
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
try:
    s.sendto(b"\\x23" + 47 * b"\\0", (sys.argv[1], 123)); r = s.recv(48)
    print("time", struct.unpack("!I", r[40:44])[0] - 2208988800 - int(time.time()))
except socket.timeout:
    print("timeout")
"""


def listing(host):
    """The ruleset in force, without counters and set elements."""
    return host.check_output("nft -s -t list ruleset")


def snapshot(host):
    return listing(host), host.check_output(f"sha256sum /etc/nftables.conf {STATE}/nftables.conf")


def playbook(path, *args, inventory=None, check=True, env=None):
    cmd = ["ansible-playbook", "-i", inventory or os.environ["MOLECULE_INVENTORY_FILE"], path, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **(env or {})))
    out = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, out[-4000:]
    return proc.returncode, out


CONVERGE = os.path.join(SCENARIO, "converge.yml")
WINDOW = os.path.join(PROJECT, "playbooks", "internet_window.yml")


def converge(*args, **kw):
    return playbook(CONVERGE, *args, **kw)


@pytest.fixture(scope="module")
def ssh_inventory(topo):
    key = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", ""), "id_ed25519")
    assert os.path.exists(key), key
    inv = {"all": {"children": {"terminals": {"hosts": {"mi-network": {
        "ansible_host": topo["ip"]["mi-network"]["mi-net-mgmt"],
        "ansible_connection": "ssh",
        "ansible_user": "root",
        "ansible_ssh_private_key_file": key,
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
    }}}}}}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(inv, f)
    yield f.name
    os.unlink(f.name)


# ----------------------------------------------------------------------------- MI-NET-01
def test_one_managed_ruleset_with_default_drop(host):
    """MI-NET-01: only our table is loaded, its three base chains drop by default, IPv6 is dropped."""
    data = json.loads(host.check_output("nft -j list ruleset"))["nftables"]
    tables = [(i["table"]["family"], i["table"]["name"]) for i in data if "table" in i]
    assert tables == [("inet", "mi_harden")]
    chains = {i["chain"]["name"]: i["chain"] for i in data if "chain" in i}
    for name in ("input", "output", "forward"):
        assert chains[name]["policy"] == "drop", chains[name]
    assert 'meta nfproto ipv6 counter name "dropped_output" drop' in listing(host)
    assert host.service("nftables").is_enabled


def test_no_other_firewall_manager(host):
    """MI-NET-01: ufw, firewalld and iptables-persistent are absent."""
    for pkg in ("ufw", "firewalld", "iptables-persistent", "netfilter-persistent"):
        assert not host.package(pkg).is_installed, pkg


def test_centre_answers_over_the_dedicated_line(host, topo):
    """MI-NET-01 MI-NET-02: the centre's service answers, routed via the line's gateway."""
    centre = topo["ip"]["mi-network-centre"]["mi-net-centre"]
    assert tcp(host, centre, 8443).startswith("open HTTP/1.0 200"), tcp(host, centre, 8443)
    route = host.check_output(f"ip route show exact {topo['net']['mi-net-centre']}")
    assert f"via {topo['ip']['mi-network-router']['mi-net-line']}" in route


def test_centre_ports_not_in_the_policy_are_dropped(host, topo):
    """MI-NET-01: destination AND port: the centre's port 8080 is not reachable, and the drop is counted."""
    def dropped():
        return json.loads(host.check_output("nft -j list counter inet mi_harden dropped_output"))["nftables"][1]["counter"]["packets"]
    before = dropped()
    assert tcp(host, topo["ip"]["mi-network-centre"]["mi-net-centre"], 8080, timeout=2) == "timeout"
    assert dropped() > before
    # rate-limited logging of the drops is in the loaded chain
    assert 'limit rate 10/minute burst 20 packets log prefix "mi-harden-drop out: "' in listing(host)


def test_internet_is_unreachable(host, topo):
    """MI-NET-01 MI-NET-02: the "Internet" server does not answer and there is no default route."""
    assert tcp(host, topo["ip"]["mi-network-inet"]["mi-net-inet"], 80, timeout=2) == "timeout"
    assert host.check_output("ip -4 route show default") == ""
    # a denied documentation network is dropped too (no route would also do it, the rule is first)
    assert tcp(host, "192.0.2.10", 443, timeout=2) != "open"


def test_internal_dns_and_ntp_answer(host, topo):
    """MI-NET-01: DNS and NTP to the site's internal server work."""
    mgmt = topo["ip"]["mi-network-mgmt"]["mi-net-mgmt"]
    assert host.run(f"python3 -c '{DNS}' {mgmt} centre.mi.test").stdout.strip() == topo["ip"]["mi-network-centre"]["mi-net-centre"]
    ntp = host.run(f"python3 -c '{NTP}' {mgmt}").stdout.strip()
    assert ntp.startswith("time "), ntp
    assert abs(int(ntp.split()[1])) < 60


def test_packages_arrive_only_through_the_internal_proxy(host):
    """MI-NET-01: apt works through the site's caching proxy; Debian's mirror directly does not."""
    update = host.run("apt-get update -o Acquire::Retries=0")
    assert update.rc == 0 and "Err:" not in update.stdout, update.stdout + update.stderr
    mirror = subprocess.run(["getent", "ahostsv4", "deb.debian.org"], capture_output=True, text=True).stdout.split()
    assert mirror, "deb.debian.org does not resolve on the controller"
    assert not tcp(host, mirror[0], 80, timeout=2).startswith("open")  # no route, and dropped


def test_ssh_only_from_the_management_network(topo):
    """MI-NET-01: SSH from the management host works; from the Internet network it does not."""
    term = topo["ip"]["mi-network"]
    assert tcp(other("mi-network-mgmt"), term["mi-net-mgmt"], 22).startswith("open SSH-2.0")
    assert tcp(other("mi-network-inet"), term["mi-net-inet"], 22, timeout=2) == "timeout"


# ----------------------------------------------------------------------------- MI-NET-02
def test_route_is_restored_at_boot_and_default_route_stays_away(host, topo):
    """MI-NET-02: the route service puts the dedicated line back (and removes a default route)."""
    centre_net = topo["net"]["mi-net-centre"]
    host.check_output(f"ip route del {centre_net}")
    host.check_output(f"ip route add default via {topo['ip']['mi-network-router']['mi-net-line']}")
    assert host.run("/usr/local/sbin/mi-harden-routes --check").rc == 1
    assert host.run("systemctl restart mi-harden-routes").rc == 0
    assert host.run("/usr/local/sbin/mi-harden-routes --check").rc == 0
    assert host.check_output(f"ip route show exact {centre_net}") != ""
    assert host.check_output("ip -4 route show default") == ""
    assert host.service("mi-harden-routes").is_enabled


# ----------------------------------------------------------------------------- lockout safety
def test_bad_ruleset_never_replaces_a_working_one(host):
    """MI-NET-01: a ruleset nft -c refuses fails the run; the rules in force and on disk stay."""
    before = snapshot(host)
    rc, out = converge("-e", json.dumps({"network_isolation_extra_output_rules": ["ip daddr 10.9.9.9 tcp dport bogus accept"]}),
                       check=False)
    assert rc != 0
    assert "Candidate ruleset" in out and "failed to validate" in out, out[-3000:]
    assert snapshot(host) == before


def test_converge_from_outside_the_management_networks_is_refused(host, topo, ssh_inventory):
    """Lockout safety: over SSH, from an address the new rules would not let in: refused before changes."""
    before = snapshot(host)
    rc, out = converge("-e", json.dumps({"network_isolation_management_networks": [topo["net"]["mi-net-centre"]]}),
                       inventory=ssh_inventory, check=False)
    assert rc != 0
    assert "which is outside" in out and "lock this run out" in out, out[-3000:]
    assert "MI-NET-01 | PATCH" not in out  # stopped in the preflight
    assert snapshot(host) == before


def test_commit_confirmed_apply_over_ssh(host, ssh_inventory):
    """MI-NET-01: over real SSH, the new rules load, Ansible reconnects through them and confirms."""
    converge("-e", json.dumps({"network_isolation_log_burst": 21}), inventory=ssh_inventory)
    assert "burst 21 packets" in listing(host)
    assert not host.service("mi-harden-nft-rollback.timer").is_running
    assert host.file(f"{STATE}/applied.list").content_string.strip() == listing(host).strip()
    rc, out = converge()  # back to the scenario's policy
    assert "burst 20 packets" in listing(host), out[-3000:]


def test_unconfirmed_ruleset_rolls_back_by_itself(host):
    """MI-NET-01: when Ansible does not confirm, the previous rules and boot file come back."""
    before = snapshot(host)
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    rc, out = converge("-e", json.dumps({"network_isolation_log_burst": 22, "network_isolation_confirm": False,
                                         "network_isolation_rollback_delay": 30}))
    assert "MI-NET-01 | PATCH | Load it" in out
    journal = ""
    for _ in range(60):
        journal = host.check_output(f"journalctl -t mi-harden-network --no-pager -o cat --since '{since}'")
        if "previous ruleset restored" in journal:
            break
        time.sleep(2)
    # in this order: the trial ruleset was loaded and not confirmed, then the timer restored the previous one
    lines = journal.splitlines()
    trial = [i for i, line in enumerate(lines) if "trial mode, not confirmed" in line]
    restored = [i for i, line in enumerate(lines) if "previous ruleset restored" in line]
    assert trial and restored and trial[0] < restored[0], journal
    assert "burst 22" in host.check_output(f"cat {STATE}/nftables.conf")  # the candidate was the trial one
    assert snapshot(host)[0] == before[0]  # rules in force: the previous ones
    assert host.check_output("sha256sum /etc/nftables.conf") == before[1].splitlines()[0]  # boot file too
    converge()  # the audit would call this drift; put the managed ruleset back
    assert snapshot(host) == before


# ----------------------------------------------------------------------------- MI-NET-03
def test_internet_window_opens_and_closes_by_itself(host, topo):
    """MI-NET-03: seconds of Internet, then closed by the kernel timeout; recorded."""
    inet = topo["ip"]["mi-network-inet"]["mi-net-inet"]
    playbook(WINDOW, "--limit", "mi-network", "-e", json.dumps(
        {"duration": "40s", "reason": "driver download, ticket 4711", "approved_by": "Wang Fang"}))
    assert tcp(host, inet, 80).startswith("open HTTP/1.0 200")
    record = json.loads(host.file("/var/lib/mi-harden/internet-window.json").content_string)
    assert record["status"] == "open" and record["approved_by"] == "Wang Fang" and record["waives"] == ["MI-NET-01"]
    for _ in range(60):  # nobody closes it: the kernel does, at the end of the window
        if tcp(host, inet, 80, timeout=1) == "timeout":
            break
        time.sleep(2)
    assert tcp(host, inet, 80, timeout=2) == "timeout"
    assert int(host.check_output("date +%s")) >= record["until_epoch"] - 1
    for _ in range(15):  # the close timer records it
        record = json.loads(host.file("/var/lib/mi-harden/internet-window.json").content_string)
        if record["status"] == "closed":
            break
        time.sleep(2)
    assert record["status"] == "closed" and record["closed_why"] == "expired"
    log = host.file("/var/log/mi-harden/internet-window.log").content_string
    assert 'approved_by="Wang Fang"' in log and 'reason="driver download, ticket 4711"' in log
    assert f"until {record['until']}" in log and "closed (expired)" in log
    journal = host.check_output("journalctl -t mi-harden-internet-window --no-pager")
    assert "Internet window opened for 40s" in journal and "closed (expired)" in journal


def test_open_window_shows_as_waived_then_compliant(host, topo):
    """MI-NET-03: while a window is open the audit's read of the role waives MI-NET-01; closed early it does not."""
    playbook(WINDOW, "--limit", "mi-network", "-e", json.dumps(
        {"duration": "10m", "reason": "vendor support session", "approved_by": "Li Wei"}))
    try:
        facts = _audit_facts()
        assert "approved by Li Wei: vendor support session" in facts["network_isolation_waived"]["MI-NET-01"]
        assert facts["network_isolation_drift"]["MI-NET-03"] == []
    finally:
        playbook(WINDOW, "--limit", "mi-network", "-e", "window_action=close")
    assert tcp(host, topo["ip"]["mi-network-inet"]["mi-net-inet"], 80, timeout=2) == "timeout"
    facts = _audit_facts()
    assert "network_isolation_waived" not in facts
    assert facts["network_isolation_drift"] == {"MI-NET-03": []}
    assert "closed early" in host.file("/var/log/mi-harden/internet-window.log").content_string


def test_window_element_without_record_is_drift(host):
    """MI-NET-03: an Internet window opened by hand (no approval record) is drift in the audit."""
    host.check_output("nft add element inet mi_harden internet_window_v4 '{ 0.0.0.0/0 timeout 10m }'")
    try:
        facts = _audit_facts()
        assert facts["network_isolation_drift"]["MI-NET-03"], facts["network_isolation_drift"]
        assert "network_isolation_waived" not in facts
    finally:
        host.check_output("nft flush set inet mi_harden internet_window_v4")


def _audit_facts():
    """Facts the role sets when run in check mode for MI-NET-03 (what the audit reads)."""
    rc, out = playbook(CONVERGE, "--check", "--tags", "MI-NET-03", env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    facts = {}
    for play in json.loads(out[out.index("{"):out.rindex("}") + 1])["plays"]:
        for task in play["tasks"]:
            res = task["hosts"].get("mi-network", {})
            if not res.get("skipped"):
                facts.update(res.get("ansible_facts", {}))
    return facts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "duration=30m", "-e", "approved_by=Wang Fang"], "reason: required"),
        (["-e", "duration=30m", "-e", "reason=updates"], "approved_by: required"),
        (["-e", "duration=5h", "-e", "reason=updates", "-e", "approved_by=Wang Fang"], "longer than the policy allows"),
        (["-e", "reason=updates", "-e", "approved_by=Wang Fang"], "duration: required"),
    ],
)
def test_window_request_refused(host, args, message):
    """MI-NET-03: no reason, no approver, no duration or more than the policy maximum (4h): refused."""
    rc, out = playbook(WINDOW, "--limit", "mi-network", *args, check=False)
    assert rc != 0 and message in out, out[-2000:]
    assert host.check_output("nft -j list set inet mi_harden internet_window_v4").count('"elem"') == 0


def test_window_needs_named_terminals(host):
    """MI-NET-03: never the whole fleet by default: --limit is required."""
    rc, out = playbook(WINDOW, "-e", "duration=5m", "-e", "reason=r", "-e", "approved_by=a", check=False)
    assert rc != 0 and "--limit" in out
