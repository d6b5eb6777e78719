"""Filters of filter_plugins/mi_base.py: SSH policy, lockout check, algorithms, base_os input."""

import pytest
from ansible.errors import AnsibleFilterError

from mi_base import (
    mi_base_os_policy,
    mi_dpkg_verify,
    mi_find_args,
    mi_openssh_version,
    mi_os_codename,
    mi_ssh_algorithms,
    mi_ssh_key,
    mi_ssh_lockout,
    mi_ssh_policy,
    mi_sysctl_mismatch,
)

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1zwNc8de/gYK/0C5ilF4tZ8S0Y6+H2NXHO0dP3m+ML wangf@laptop"
ECDSA = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLsGTA6mIDqvFLHOYPUaeVac6JtVz8JpD7bk"
         "rW/kt2z88BVGRjPhUuUl3CvHbwGmSeZdc3fwix4jBzde+QekWho= t")
RSA2048 = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDGXnw0zdgX5uxnmS8cQqxE8hKwVnvf1ne27R102zpK7OXUACgKYSou6Zi6zzHgusFHYyNkrum9"
           "dUxP+YxKhsPiP5xdAalZZ0vb+Rq972sNQ4FVJDWio0xiyXrCZbwbgHT7v71dUeinE1RJATTQXodx2235LJHKyS/8IGhbHKCxkQVwC0U0oVR7c/jQ"
           "KcHyGv5jDqnyaZS6neusgajJkXeAXH3+kmLtBjgHrzVrowFxurWYqaLWZnd2xh+8HwSJKM4YgYA1Vi3/5MJzc/BHlB9wll7LbNdj5mqs+mE5dU0e"
           "RQtCqS2WM6TTuf6o/RAZooroHr6T1m0zQ0PxP20u56cl t")
RSA3072 = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDsC1lHnSXnpnnshABXxQ2DgqXIQ52qP6RZUO2CWmxvAgux9u1h/JPTG7TKcAyRbC+SgihGYYG"
           "GKJeRf6DvfTcoz1wehBghzFG88XC6A+Om+d+nhiSZbbI0wzuqfmxXlqsjnXiMUTLXYYiH9H9B3InbHf6GBQj1/Iw3zE7u98TlgJYOJ3SmBZ6xEE08"
           "aexgJbkGIugUNfhtVlH+76AlqXH8pBCvvw1iwbLvrkBtHs2s9++5Uxta2nZXX9DLAa1oreoHi65Ld5Ylw8KKCespP7vLx8lpJiO7LsaGiuDHiB3Rn"
           "R5p54SV1BIVruHUirJjnlapS8mtMCYFjtWhT6Bbh1dsEIYCcXXeTsSr4x7wLXhe63R0O4ipSza0xjr50tVSLptqPe1OzI776brzfJup388F2iOsBR"
           "p3/nuXgNVO913x8aCCtSER3+ivHypurJ8zIK+BP8YLDbKKg3ejX30gD+GliFbd03KQvG3EN/Fb8LFSTm7XZ4mYKnJnWyWu1LK4cSk= t")

SSH = {
    "ports": [22],
    "admin_group": "mi-admins",
    "administrators": [{"name": "wangf", "full_name": "王芳", "ssh_keys": [ED25519]}],
    "management_user": "root",
    "management_keys": [RSA3072],
    "management_networks": ["10.0.0.0/8"],
    "listen_addresses": [],
    "permit_root_login": "prohibit-password",
}
ROOT_SESSION = {"user": "root", "groups": ["root"], "ssh_connection": "10.0.0.5 50122 10.20.1.11 22",
                "connection": "ssh", "password": False, "management_group": "root"}


def test_ssh_policy_is_normalised():
    out = mi_ssh_policy(dict(SSH, extra_allow_groups=["mi-admins", "backup"], management_networks=["10.0.0.0/8"]))
    assert out["allow_groups"] == ["mi-admins", "backup"]
    assert out["administrators"] == [{"name": "wangf", "ssh_keys": [ED25519]}]
    assert out["login_grace_time"] == 30 and out["idle_timeout"] == 900


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ports": [70000]}, r"remote_access_ports\[0\]: 70000 must be a whole number from 1 to 65535"),
        ({"ports": [0]}, r"remote_access_ports\[0\]: 0 "),
        ({"ports": ["22"]}, r"remote_access_ports\[0\]: '22'"),
        ({"ports": [True]}, r"remote_access_ports\[0\]: True"),
        ({"ports": []}, r"remote_access_ports: at least one port"),
        ({"ports": [22, 22]}, r"remote_access_ports: \[22, 22\] lists a port twice"),
        ({"admin_group": ""}, r"remote_access_admin_group: empty; .*mi_admin_group"),
        ({"admin_group": None}, r"remote_access_admin_group: empty"),
        ({"admin_group": "Admins!"}, r"remote_access_admin_group: 'Admins!' is not a valid group name"),
        ({"management_user": ""}, r"remote_access_management_user: '' is not a valid user name"),
        ({"management_keys": ["ssh-dss AAAAB3NzaC1kc3M= x"]}, r"remote_access_management_keys\[0\]: key type 'ssh-dss'"),
        ({"management_keys": [RSA2048]}, r"remote_access_management_keys\[0\]: RSA key of 2048 bits.*3072"),
        ({"management_keys": ["ssh-ed25519 not-base64!"]}, r"remote_access_management_keys\[0\]: the key body is not valid"),
        ({"management_keys": [ED25519.replace("ssh-ed25519", "ecdsa-sha2-nistp256")]},
         r"the key body is a 'ssh-ed25519' key, not 'ecdsa-sha2-nistp256'"),
        ({"management_keys": ['from="10.0.0.1" ' + ED25519]}, r"authorized_keys options are not supported"),
        ({"administrators": [{"name": "wangf", "ssh_keys": ["ssh-ed25519"]}]},
         r"remote_access_administrators\[0\]\(wangf\)\.ssh_keys\[0\]: the ssh-ed25519 key has no base64 body"),
        ({"administrators": [{"name": "Wang F"}]}, r"remote_access_administrators\[0\]\.name: 'Wang F'"),
        ({"administrators": [{"name": "a"}, {"name": "a"}]}, r"an administrator is listed twice"),
        ({"management_networks": ["10.0.0.1/8"]}, r"remote_access_management_networks\[0\]: '10.0.0.1/8' is not a network"),
        ({"listen_addresses": ["10.0.0.1:22"]}, r"remote_access_listen_addresses\[0\]: '10.0.0.1:22' is not an IP"),
        ({"permit_root_login": "yes"}, r"remote_access_permit_root_login: 'yes' is not allowed"),
        ({"max_auth_tries": 0}, r"remote_access_max_auth_tries: 0 must be"),
        ({"idle_timeout": 10}, r"remote_access_idle_timeout: 10 must be"),
        ({"colour": "red"}, r"unknown field\(s\) \['colour'\]"),
    ],
)
def test_bad_ssh_input_names_the_field(change, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_ssh_policy(dict(SSH, **change))


def test_accepted_key_types():
    for key in (ED25519, ECDSA, RSA3072):
        assert mi_ssh_key(key, "k") == key
    assert mi_ssh_key(RSA2048, "k", min_rsa_bits=2048) == RSA2048


def test_lockout_passes_a_root_session_with_key_from_management_network():
    result = mi_ssh_lockout(mi_ssh_policy(SSH), ROOT_SESSION)
    assert result["ssh"] is True
    assert result["allow_groups"] == ["mi-admins", "root"]


def test_lockout_ignores_a_non_ssh_connection_but_says_so():
    result = mi_ssh_lockout(mi_ssh_policy(dict(SSH, management_keys=[])),
                            {"user": "root", "ssh_connection": "", "connection": "community.docker.docker"})
    assert result["ssh"] is False
    assert "'community.docker.docker' is not an SSH session" in result["reason"]


@pytest.mark.parametrize(
    ("change", "session", "message"),
    [
        ({"management_keys": []}, {}, r"^remote_access_management_keys: .*no public key for 'root'"),
        ({"permit_root_login": "no"}, {}, r"^remote_access_permit_root_login: .*as 'root'"),
        ({"management_networks": ["192.168.0.0/16"]}, {}, r"^remote_access_management_networks: .*10.0.0.5 is in none"),
        ({"ports": [2222]}, {}, r"^remote_access_ports: .*port 22, but sshd would listen on \[2222\]"),
        ({"listen_addresses": ["10.20.1.12"]}, {}, r"^remote_access_listen_addresses: "),
        ({}, {"password": True}, r"^ansible_password: .*with a password"),
        ({}, {"user": "somebody"}, r"^remote_access_management_user: .*as 'somebody'"),
        ({"management_user": "ansible", "management_keys": []}, {"user": "ansible", "groups": ["ansible"], "management_group": None},
         r"^remote_access_management_keys: .*'ansible'"),
        ({}, {"user": "wangf", "groups": ["wangf", "users"]}, r"^remote_access_admin_group: .*none of the allowed groups"),
    ],
)
def test_lockout_refuses_a_run_that_would_cut_itself_off(change, session, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_ssh_lockout(mi_ssh_policy(dict(SSH, **change)), dict(ROOT_SESSION, **session))


def test_lockout_check_is_moot_when_the_run_does_not_apply_sshd_settings():
    policy = mi_ssh_policy(dict(SSH, management_keys=[], management_networks=["192.168.0.0/16"]))
    result = mi_ssh_lockout(policy, dict(ROOT_SESSION, applied=False))
    assert result["ssh"] is True and "does not apply the sshd settings" in result["reason"]
    with pytest.raises(AnsibleFilterError, match="remote_access_management_keys"):
        mi_ssh_lockout(policy, ROOT_SESSION)


def test_lockout_passes_an_administrator_in_the_group():
    session = dict(ROOT_SESSION, user="wangf", groups=["wangf", "mi-admins"])
    assert mi_ssh_lockout(mi_ssh_policy(dict(SSH, permit_root_login="no")), session)["ssh"]


def test_algorithms_follow_policy_order_and_host_support():
    preferred = ["mlkem768x25519-sha256", "sntrup761x25519-sha512@openssh.com", "curve25519-sha256"]
    bullseye = ["diffie-hellman-group14-sha1", "curve25519-sha256", "sntrup4591761x25519-sha512@tinyssh.org"]
    assert mi_ssh_algorithms(preferred, bullseye, "f") == "curve25519-sha256"
    assert mi_ssh_algorithms(preferred, [], "f") == ",".join(preferred)
    with pytest.raises(AnsibleFilterError, match=r"remote_access_ciphers: none of \['x'\]"):
        mi_ssh_algorithms(["x"], ["aes128-ctr"], "remote_access_ciphers")
    with pytest.raises(AnsibleFilterError, match=r"remote_access_macs: must be a non-empty list"):
        mi_ssh_algorithms([], ["a"], "remote_access_macs")


def test_openssh_version():
    assert mi_openssh_version("OpenSSH_8.4p1 Debian-5+deb11u7, OpenSSL 1.1.1w  11 Sep 2023") == "8.4"
    assert mi_openssh_version("OpenSSH_10.0p2 Debian-7") == "10.0"
    assert mi_openssh_version("") == ""


BULLSEYE_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
"""


def test_os_codename_reads_the_release_of_os_release():
    assert mi_os_codename(BULLSEYE_OS_RELEASE) == "bullseye"
    # quoted, and the PRETTY_NAME fallback of an os-release without VERSION_CODENAME
    assert mi_os_codename("VERSION_CODENAME='trixie'\n") == "trixie"
    assert mi_os_codename('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n') == "bookworm"
    # VERSION_CODENAME wins over the bracket of PRETTY_NAME
    assert mi_os_codename('PRETTY_NAME="X (sid)"\nVERSION_CODENAME=trixie\n') == "trixie"


def test_os_codename_of_this_machine_is_the_fact_ansible_gathers():
    from ansible.module_utils.facts.system.distribution import DistributionFactCollector
    from pathlib import Path

    class _Module:  # the collector's view of AnsibleModule: it only runs commands and reads files
        def run_command(self, *args, **kwargs):
            return 1, "", ""

        def get_bin_path(self, *args, **kwargs):
            return None

    facts = DistributionFactCollector().collect(module=_Module())
    assert mi_os_codename(Path("/etc/os-release").read_text()) == facts["distribution_release"]


def test_os_codename_without_a_name_names_the_field():
    for text in ("", 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nID=debian\n', None, "VERSION_CODENAME=Bad Name"):
        with pytest.raises(AnsibleFilterError, match=r"^/etc/os-release: no release code name"):
            mi_os_codename(text)
    with pytest.raises(AnsibleFilterError, match=r"^time_sync: no release code name"):
        mi_os_codename("", "time_sync")


BASE = {
    "sysctl": {"net.ipv4.ip_forward": 0, "kernel.yama.ptrace_scope": "1"},
    "modules": ["cramfs", "hfs-plus"],
    "packages_absent": ["telnet", "rsh-client"],
    "umask": "027",
    "file_permissions": [{"path": "/etc/shadow", "owner": "root", "group": "shadow", "mode": "0640"}],
    "system_paths": ["/etc", "/usr"],
    "tmp_paths": ["/var/tmp"],
    "cron_users": ["root", "wangf", "root"],
    "masked_units": ["ctrl-alt-del.target"],
}


def test_base_os_policy_is_normalised():
    out = mi_base_os_policy(BASE)
    assert out["sysctl"] == {"net.ipv4.ip_forward": "0", "kernel.yama.ptrace_scope": "1"}
    assert out["modules"] == ["cramfs", "hfs_plus"]
    assert out["cron_users"] == ["root", "wangf"]
    assert out["umask"] == "027"
    assert mi_base_os_policy(dict(BASE, umask="0077"))["umask"] == "077"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"umask": 23}, r"base_os_umask: 23 must be an octal text in quotes"),
        ({"umask": "028"}, r"base_os_umask: '028'"),
        ({"sysctl": {"net ipv4": 1}}, r"base_os_sysctl: 'net ipv4' is not a kernel parameter"),
        ({"sysctl": {"kernel.x": True}}, r"base_os_sysctl\['kernel.x'\]: True"),
        ({"sysctl": ["a"]}, r"base_os_sysctl: must be a mapping"),
        ({"modules": ["cram fs"]}, r"base_os_modules\[0\]: 'cram fs' is not a kernel module"),
        ({"packages_absent": ["Telnet"]}, r"base_os_packages_absent\[0\]: 'Telnet'"),
        ({"masked_units": ["ctrl-alt-del"]}, r"base_os_masked_units\[0\]"),
        ({"file_permissions": [{"path": "etc/shadow", "owner": "root", "group": "shadow", "mode": "0640"}]},
         r"base_os_file_permissions\[0\]\.path: 'etc/shadow' must be an absolute path"),
        ({"file_permissions": [{"path": "/etc/shadow", "owner": "root", "group": "shadow", "mode": 416}]},
         r"base_os_file_permissions\[0\]\(/etc/shadow\)\.mode: 416"),
        ({"file_permissions": [{"path": "/etc/x", "owner": "root", "group": "root", "mode": "0644", "x": 1}]},
         r"base_os_file_permissions\[0\]: must be a mapping"),
        ({"system_paths": ["/"]}, r"base_os_system_paths: '/' would search every mount"),
        ({"tmp_paths": ["tmp"]}, r"base_os_tmp_paths\[0\]: 'tmp' must be an absolute path"),
        ({"cron_users": ["Bad User"]}, r"base_os_cron_users\[0\]"),
        ({"extra": 1}, r"unknown field\(s\) \['extra'\]"),
    ],
)
def test_bad_base_os_input_names_the_field(change, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_base_os_policy(dict(BASE, **change))


def test_dpkg_verify_findings_leave_out_configuration_files():
    output = "\n".join([
        "??5??????   /usr/bin/passwd",
        "??5?????? c /etc/login.defs",
        "missing     /var/lib/apt/lists/partial",
        "missing   c /etc/cron.deny",
        "dpkg: warning: something",
    ])
    assert mi_dpkg_verify(output) == ["/usr/bin/passwd: checksum differs", "/var/lib/apt/lists/partial: missing"]
    assert mi_dpkg_verify(output, ignore=["/var/lib/apt/"]) == ["/usr/bin/passwd: checksum differs"]
    assert "/etc/login.defs: checksum differs (configuration file)" in mi_dpkg_verify(output, include_conffiles=True)
    assert mi_dpkg_verify("") == []


def test_sysctl_mismatch_names_each_differing_parameter():
    output = "net.ipv4.ip_forward = 1\nkernel.kptr_restrict = 2\nnet.ipv4.ip_local_port_range = 32768\t60999\n"
    policy = {"net.ipv4.ip_forward": "0", "kernel.kptr_restrict": "2", "kernel.yama.ptrace_scope": "1",
              "net.ipv4.ip_local_port_range": "32768 60999"}
    assert mi_sysctl_mismatch(policy, output) == [
        "net.ipv4.ip_forward: running 1, policy 0",
        "kernel.yama.ptrace_scope: not available in this kernel (policy 1)",
    ]
    assert mi_sysctl_mismatch({"net.ipv4.ip_forward": "0"}, "net.ipv4.ip_forward = 0") == []


def test_find_args_prune_tmp_dirs_and_print_tagged_lines():
    args = mi_find_args(["/etc", "/usr"], ["/tmp", "/var/tmp"])
    assert args[:8] == ["find", "/etc", "/usr", "-xdev", "(", "-path", "/tmp", "-o"]
    assert args[8:12] == ["-path", "/var/tmp", ")", "-prune"]
    assert "W %p\\n" in args and "-nouser" in args
    assert "-prune" not in mi_find_args(["/etc"], [])
