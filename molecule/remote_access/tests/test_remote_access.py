"""Role remote_access: a real SSH client (a second container, and the controller) against the terminal."""

import hashlib
import json
import os
import pathlib
import subprocess

import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
KEYS = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
SCENARIO = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
TERMINAL = "mi-remote-access"
# The `host` fixture is the terminal; the client container is reached explicitly.
testinfra_hosts = [f"ansible://{TERMINAL}?ansible_inventory={INVENTORY}"]
CLIENT = testinfra.get_host(f"ansible://mi-ssh-client?ansible_inventory={INVENTORY}")
# The client runs with LC_ALL=C.UTF-8 so that it prints the Chinese banner as text.
SSH = "ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10"
BANNER_ZH = "医保网络终端"
BANNER_EN = "Unauthorised use"


def from_client(args, password=None):
    """Run ssh on the client container: with admin1's key, or with a password only."""
    if password:
        return CLIENT.run(
            f"LC_ALL=C.UTF-8 sshpass -p {password} {SSH} -o PubkeyAuthentication=no "
            f"-o PreferredAuthentications=password,keyboard-interactive {args}"
        )
    return CLIENT.run(f"LC_ALL=C.UTF-8 {SSH} -o BatchMode=yes {args}")


def test_admin_key_login_is_accepted(host):
    """MI-SSH-01: an administrator with the key of the policy logs in."""
    result = from_client(f"admin1@{TERMINAL} id -un")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "admin1"


@pytest.mark.parametrize("user", ["admin1", "root", "operator1"])
def test_password_login_is_refused_even_with_the_right_password(host, user):
    """MI-SSH-01: keys only; the server does not even offer password authentication."""
    result = from_client(f"{user}@{TERMINAL} true", password="Test-Pass-1")
    assert result.rc != 0
    assert "Permission denied (publickey)" in result.stderr, result.stderr


def test_root_cannot_log_in_with_an_administrators_key(host):
    """MI-SSH-01: root accepts only the controllers' keys (prohibit-password), not admin1's."""
    result = from_client(f"root@{TERMINAL} true")
    assert result.rc != 0
    assert "Permission denied" in result.stderr


def test_valid_key_outside_the_admin_group_is_refused(host):
    """MI-SSH-01: operator1 holds admin1's key, but is not in the administrators' group."""
    result = from_client(f"operator1@{TERMINAL} true")
    assert result.rc != 0
    assert "Permission denied" in result.stderr
    log = host.run("journalctl -u ssh --no-pager -q | grep -c 'User operator1 .* not allowed because none of user.s groups'")
    assert int(log.stdout.strip() or 0) >= 1, log.stdout


def test_login_from_outside_the_management_networks_is_refused(host):
    """MI-SSH-01: the right key for the right person, but from an address outside the networks."""
    key = (KEYS / "admin_key").read_text()
    host.run("install -m 0600 /dev/null /root/.mi-test-key")
    try:
        host.run(f"cat > /root/.mi-test-key <<'EOF'\n{key}EOF")
        result = host.run(f"{SSH} -o BatchMode=yes -i /root/.mi-test-key admin1@127.0.0.1 true")
    finally:
        host.run("rm -f /root/.mi-test-key")
    assert result.rc != 0
    assert "Permission denied" in result.stderr, result.stderr


def test_banner_is_shown_before_login(host):
    """MI-SSH-02: the SSH client sees the bilingual banner; the console shows the same text."""
    result = from_client(f"admin1@{TERMINAL} true")
    assert BANNER_ZH in result.stderr and BANNER_EN in result.stderr, result.stderr
    for path in ("/etc/issue", "/etc/issue.net"):
        text = host.file(path).content_string
        assert BANNER_ZH in text and "recorded" in text and "\\" not in text


@pytest.mark.parametrize(
    ("option", "refusal"),
    [
        ("-c aes128-cbc", "no matching cipher"),
        ("-c 3des-cbc", "no matching cipher"),
        ("-o KexAlgorithms=diffie-hellman-group14-sha1", "no matching key exchange"),
        ("-o KexAlgorithms=ecdh-sha2-nistp256", "no matching key exchange"),
        ("-o MACs=hmac-sha1 -c aes128-ctr", "no matching MAC"),
        ("-o HostKeyAlgorithms=ssh-rsa", "no matching host key type"),
    ],
)
def test_weak_cryptography_is_refused(host, option, refusal):
    """MI-SSH-01: a client that offers only weak algorithms cannot even negotiate."""
    result = from_client(f"{option} admin1@{TERMINAL} true")
    assert result.rc != 0
    assert refusal in result.stderr, result.stderr


def test_forwarding_is_refused(host):
    """MI-SSH-01: no TCP forwarding (here: stdio forwarding to the terminal's own sshd)."""
    result = from_client(f"-W 127.0.0.1:22 admin1@{TERMINAL}")
    assert result.rc != 0
    assert "administratively prohibited" in result.stderr, result.stderr


def test_effective_sshd_settings(host):
    """MI-SSH-01: what sshd itself reads (sshd -T), for the settings no short test can show."""
    settings = {}
    for line in host.check_output("sshd -T").splitlines():
        key, _, value = line.partition(" ")
        settings[key] = f"{settings[key]} {value}" if key in settings else value  # allowgroups: one line each
    assert settings["passwordauthentication"] == "no"
    assert settings["permitemptypasswords"] == "no"
    assert settings["permitrootlogin"] == "without-password"  # sshd's name for prohibit-password
    assert settings["authenticationmethods"] == "publickey"
    assert settings["allowgroups"].split() == ["mi-admins", "root"]
    assert settings["logingracetime"] == "30"
    assert settings["maxauthtries"] == "3"
    assert settings["clientaliveinterval"] == "300"
    assert settings["channeltimeout"] == "session=900s"
    assert settings["allowtcpforwarding"] == "no" and settings["x11forwarding"] == "no"
    assert settings["banner"] == "/etc/issue.net"
    for kind in ("kexalgorithms", "ciphers", "macs"):
        assert not [a for a in settings[kind].split(",") if "sha1" in a or "cbc" in a or "md5" in a], settings[kind]
    assert host.file("/etc/ssh/sshd_config").mode == 0o600


# --- lockout safety: Ansible itself connects over SSH from the controller -----------------
def _terminal_ip():
    fmt = '{{(index .NetworkSettings.Networks "mi-ssh-test").IPAddress}}'
    return subprocess.check_output(["docker", "inspect", "-f", fmt, TERMINAL], text=True).strip()


def _run_over_ssh(tmp_path, *extra):
    inventory = tmp_path / "ssh-inventory.yml"
    inventory.write_text(json.dumps({"terminals": {"children": {"site_lab": {"hosts": {TERMINAL: {
        "ansible_host": _terminal_ip(), "ansible_connection": "ssh", "ansible_user": "root",
        "ansible_ssh_private_key_file": str(KEYS / "mgmt_key"),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
    }}}}}}))
    env = dict(os.environ, ANSIBLE_SSH_ARGS="-o ControlMaster=no", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(SCENARIO / "converge.yml"), *extra],
        env=env, capture_output=True, text=True, check=False, timeout=600,
    )


def _config_digest(host):
    return hashlib.sha256(host.file("/etc/ssh/sshd_config").content).hexdigest()


def test_run_that_would_lock_out_its_ssh_session_stops_before_any_change(host, tmp_path):
    """MI-SSH-01: connected as root over SSH, a policy of PermitRootLogin no is refused up front."""
    before = _config_digest(host)
    proc = _run_over_ssh(tmp_path, "-e", "remote_access_permit_root_login=no")
    assert proc.returncode != 0
    assert "remote_access_permit_root_login" in proc.stdout + proc.stderr, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "changed=0" in proc.stdout
    assert _config_digest(host) == before


def test_run_whose_tags_leave_sshd_out_is_not_stopped(host, tmp_path):
    """MI-SSH-01: the same policy, but the run's tags leave the sshd configuration out (as
    the VM scenario's kernel-level tags do): nothing can be cut off, so nothing is refused."""
    before = _config_digest(host)
    proc = _run_over_ssh(tmp_path, "-e", "remote_access_permit_root_login=no", "--tags", "MI-SSH-02")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert _config_digest(host) == before


def test_ansible_keeps_working_over_ssh_with_the_management_key(host, tmp_path):
    """MI-SSH-01: the hardened sshd still lets the controller in, as root with its key only."""
    proc = _run_over_ssh(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "changed=0" in proc.stdout and "failed=0" in proc.stdout
