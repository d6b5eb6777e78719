"""Base-system and remote-administration filters (roles remote_access and base_os).

``mi_ssh_policy`` and ``mi_base_os_policy`` check a role's input before any change and
name the offending field; ``mi_ssh_lockout`` refuses a run that would cut off the session
Ansible is using; the rest turn host output into data (OpenSSH version and algorithms,
``dpkg --verify`` findings).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_base
short_description: SSH and base-system policy checks for mi-harden
description:
  - C(mi_ssh_policy) validates the remote_access input (ports, groups, people and their
    public keys, networks, root login, timeouts) and returns it normalised.
  - C(mi_ssh_lockout) checks that the session of this run (user, SSH client and server
    address and port) keeps working under the new sshd configuration; fails otherwise.
  - C(mi_ssh_algorithms) keeps the policy's algorithms the host's OpenSSH supports, in order.
  - C(mi_openssh_version) reads C(ssh -V) output and returns C(major.minor).
  - C(mi_os_codename) reads C(/etc/os-release) and returns the release's code name
    (C(bookworm)), the value of the C(distribution_release) fact on Debian.
  - C(mi_base_os_policy) validates the base_os input (sysctl, modules, packages, umask,
    file permissions, paths, cron users).
  - C(mi_dpkg_verify) turns C(dpkg --verify) output into findings.
  - C(mi_find_args) builds one C(find) pass for world-writable and unowned files.
  - C(mi_sysctl_mismatch) compares the policy's kernel parameters with C(sysctl) output.
"""

EXAMPLES = r"""
policy: "{{ {'ports': [22], 'admin_group': 'mi-admins', ...} | mi_ssh_policy }}"
session: "{{ policy | mi_ssh_lockout({'user': 'root', 'ssh_connection': '10.0.0.5 5122 10.20.1.11 22'}) }}"
kex: "{{ remote_access_kex | mi_ssh_algorithms(host_kex_list, 'remote_access_kex') }}"
version: "{{ ssh_v.stderr | mi_openssh_version }}"
release: "{{ os_release.content | b64decode | mi_os_codename('/etc/os-release') }}"
checked: "{{ {'sysctl': {...}, 'umask': '027', ...} | mi_base_os_policy }}"
findings: "{{ verify.stdout | mi_dpkg_verify }}"
mismatch: "{{ base_os_sysctl | mi_sysctl_mismatch(running.stdout) }}"
"""

RETURN = r"""
_value:
  description: the normalised policy, the session summary, an algorithm list (comma
    separated), a version text, or a list of findings.
"""

# ------------------------------------------------------------------ common checks
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_PKG_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_MODULE_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_SYSCTL_RE = re.compile(r"^[a-z0-9_]+(\.[a-zA-Z0-9_*-]+)+$")
_MODE_RE = re.compile(r"^0[0-7]{3}$")
_UMASK_RE = re.compile(r"^0?[0-7]{3}$")
_ALGO_RE = re.compile(r"^[A-Za-z0-9@._+-]+$")

# Public key types sshd accepts from an administrator (no DSA, no RSA-SHA1-only types).
KEY_TYPES = (
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",  # the key type; signatures are rsa-sha2-256/512 (HostKey/PubkeyAccepted... lists)
)
PERMIT_ROOT_LOGIN = ("no", "prohibit-password")


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AnsibleFilterError(f"{field}: {value!r} must be a whole number from {low} to {high}")
    return value


def _name(value: Any, field: str, what: str) -> str:
    if not isinstance(value, str) or not _USER_RE.match(value):
        raise AnsibleFilterError(
            f"{field}: {value!r} is not a valid {what} name (lower-case letters, digits, '_' or '-', at most 32)"
        )
    return value


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AnsibleFilterError(f"{field}: must be a list, got {type(value).__name__}")
    return value


def _ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise ValueError("truncated")
    (size,) = struct.unpack(">I", blob[offset:offset + 4])
    end = offset + 4 + size
    if end > len(blob):
        raise ValueError("truncated")
    return blob[offset + 4:end], end


def mi_ssh_key(key: Any, field: str, min_rsa_bits: int = 3072) -> str:
    """Check one OpenSSH public key line (``type base64 [comment]``) and return it stripped.

    The key type inside the base64 blob must match the declared type; RSA keys must have
    at least ``min_rsa_bits``; DSA keys and authorized_keys options are refused.
    """
    if not isinstance(key, str) or not key.strip() or "\n" in key.strip():
        raise AnsibleFilterError(f"{field}: must be one public key line 'type base64 comment', got {key!r}")
    parts = key.strip().split(None, 2)
    if parts[0] not in KEY_TYPES:
        raise AnsibleFilterError(
            f"{field}: key type {parts[0]!r} is not accepted (allowed: {', '.join(KEY_TYPES)};"
            " authorized_keys options are not supported)"
        )
    if len(parts) < 2:
        raise AnsibleFilterError(f"{field}: the {parts[0]} key has no base64 body")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        inner, offset = _ssh_string(blob, 0)
        if inner.decode("ascii", "replace") != parts[0]:
            raise AnsibleFilterError(f"{field}: the key body is a {inner.decode('ascii', 'replace')!r} key, not {parts[0]!r}")
        if parts[0] == "ssh-rsa":
            _exp, offset = _ssh_string(blob, offset)
            modulus, _ = _ssh_string(blob, offset)
            bits = int.from_bytes(modulus, "big").bit_length()
            if bits < min_rsa_bits:
                raise AnsibleFilterError(f"{field}: RSA key of {bits} bits, the policy requires at least {min_rsa_bits}")
    except (binascii.Error, ValueError) as exc:
        raise AnsibleFilterError(f"{field}: the key body is not valid base64 key data ({exc})") from exc
    return key.strip()


def _keys(value: Any, field: str, min_rsa_bits: int) -> list[str]:
    return [mi_ssh_key(k, f"{field}[{i}]", min_rsa_bits) for i, k in enumerate(_list(value, field))]


def _networks(value: Any, field: str) -> list[str]:
    nets = []
    for i, cidr in enumerate(_list(value, field)):
        try:
            nets.append(str(ipaddress.ip_network(str(cidr), strict=True)))
        except ValueError as exc:
            raise AnsibleFilterError(f"{field}[{i}]: {cidr!r} is not a network in CIDR form ({exc})") from exc
    return nets


# ------------------------------------------------------------------ remote_access
SSH_FIELDS = {
    "ports", "admin_group", "administrators", "management_user", "management_keys",
    "management_networks", "listen_addresses", "permit_root_login", "min_rsa_bits",
    "login_grace_time", "max_auth_tries", "max_sessions", "client_alive_interval",
    "client_alive_count_max", "idle_timeout", "extra_allow_groups",
}


def mi_ssh_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """Validate the remote_access input (keys without the ``remote_access_`` prefix).

    Returns it normalised: networks in canonical CIDR form, keys stripped, and
    ``allow_groups`` (admin group first, then the extra groups, de-duplicated).
    """
    if not isinstance(policy, dict):
        raise AnsibleFilterError("remote_access policy: must be a mapping")
    unknown = sorted(set(policy) - SSH_FIELDS)
    if unknown:
        raise AnsibleFilterError(f"remote_access policy: unknown field(s) {unknown}")
    p = "remote_access_"
    out: dict[str, Any] = {}

    ports = _list(policy.get("ports"), p + "ports")
    if not ports:
        raise AnsibleFilterError(f"{p}ports: at least one port is required (e.g. [22])")
    out["ports"] = [_int(v, f"{p}ports[{i}]", 1, 65535) for i, v in enumerate(ports)]
    if len(set(out["ports"])) != len(out["ports"]):
        raise AnsibleFilterError(f"{p}ports: {out['ports']} lists a port twice")

    group = policy.get("admin_group")
    if not isinstance(group, str) or not group.strip():
        raise AnsibleFilterError(
            f"{p}admin_group: empty; it must name the administrators' group (mi_admin_group in the inventory)"
        )
    out["admin_group"] = _name(group, p + "admin_group", "group")
    extra = [_name(g, f"{p}extra_allow_groups[{i}]", "group")
             for i, g in enumerate(_list(policy.get("extra_allow_groups"), p + "extra_allow_groups"))]
    out["extra_allow_groups"] = extra
    out["allow_groups"] = list(dict.fromkeys([out["admin_group"], *extra]))

    min_rsa = _int(policy.get("min_rsa_bits", 3072), p + "min_rsa_bits", 2048, 16384)
    out["min_rsa_bits"] = min_rsa

    admins = []
    for i, entry in enumerate(_list(policy.get("administrators"), p + "administrators")):
        where = f"{p}administrators[{i}]"
        if not isinstance(entry, dict):
            raise AnsibleFilterError(f"{where}: must be a mapping with name and ssh_keys")
        name = _name(entry.get("name"), f"{where}.name", "user")
        admins.append({"name": name, "ssh_keys": _keys(entry.get("ssh_keys"), f"{where}({name}).ssh_keys", min_rsa)})
    names = [a["name"] for a in admins]
    if len(set(names)) != len(names):
        raise AnsibleFilterError(f"{p}administrators: an administrator is listed twice ({names})")
    out["administrators"] = admins

    out["management_user"] = _name(policy.get("management_user"), p + "management_user", "user")
    out["management_keys"] = _keys(policy.get("management_keys"), p + "management_keys", min_rsa)
    out["management_networks"] = _networks(policy.get("management_networks"), p + "management_networks")

    listen = []
    for i, addr in enumerate(_list(policy.get("listen_addresses"), p + "listen_addresses")):
        try:
            listen.append(str(ipaddress.ip_address(str(addr))))
        except ValueError as exc:
            raise AnsibleFilterError(f"{p}listen_addresses[{i}]: {addr!r} is not an IP address (no port, no name)") from exc
    out["listen_addresses"] = listen

    root = policy.get("permit_root_login", "no")
    if root not in PERMIT_ROOT_LOGIN:
        raise AnsibleFilterError(
            f"{p}permit_root_login: {root!r} is not allowed; use one of {list(PERMIT_ROOT_LOGIN)} (root never logs in with a password)"
        )
    out["permit_root_login"] = root

    for key, low, high, default in (
        ("login_grace_time", 5, 600, 30),
        ("max_auth_tries", 1, 10, 3),
        ("max_sessions", 1, 64, 4),
        ("client_alive_interval", 1, 3600, 300),
        ("client_alive_count_max", 1, 10, 3),
        ("idle_timeout", 60, 86400, 900),
    ):
        out[key] = _int(policy.get(key, default), p + key, low, high)
    return out


def _keys_of(policy: dict[str, Any], user: str) -> list[str]:
    keys = list(policy["management_keys"]) if user == policy["management_user"] else []
    for admin in policy["administrators"]:
        if admin["name"] == user:
            keys += admin["ssh_keys"]
    return keys


def mi_ssh_lockout(policy: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    """Refuse a run whose own SSH session the new sshd configuration would cut off.

    ``policy`` is the output of ``mi_ssh_policy``. ``session`` describes this run:
    ``user`` (login user), ``groups`` (that user's groups on the host),
    ``ssh_connection`` (``$SSH_CONNECTION``: client address and port, server address and
    port; empty when the connection is not SSH), ``connection`` (the Ansible connection
    plugin, for messages), ``password`` (true when Ansible logs in with a password) and
    ``management_group`` (primary group of the management user on the host, if any) and
    ``applied`` (false when this run's tags leave the sshd configuration task out).

    Returns ``{'ssh': bool, 'user': str, 'allow_groups': [...], 'reason': str}``. A run
    that does not come over SSH (docker, local) has nothing to cut off: ``ssh`` is false
    and the reason says so.
    """
    user = session.get("user") or ""
    conn = str(session.get("connection") or "ssh")
    allow = list(policy["allow_groups"])
    mgmt_group = session.get("management_group")
    if mgmt_group and mgmt_group not in allow:
        allow.append(mgmt_group)
    fields = (session.get("ssh_connection") or "").split()
    if len(fields) != 4:
        return {"ssh": False, "user": user, "allow_groups": allow,
                "reason": f"connection {conn!r} is not an SSH session: the sshd settings cannot cut this run off"}
    if not session.get("applied", True):
        return {"ssh": True, "user": user, "allow_groups": allow,
                "reason": "this run does not apply the sshd settings (its tags leave MI-SSH-01 out): it cannot cut itself off"}
    client, _cport, server, sport = fields
    where = f"this run connects over SSH as {user!r} from {client} to {server} port {sport}"
    if session.get("password"):
        raise AnsibleFilterError(
            f"ansible_password: {where} with a password, but SSH will accept keys only; connect with a key first"
        )
    if user != policy["management_user"] and user not in [a["name"] for a in policy["administrators"]]:
        raise AnsibleFilterError(
            f"remote_access_management_user: {where}, but the management user is {policy['management_user']!r}"
            " and it is no administrator either: the run would lose its access"
        )
    if not _keys_of(policy, user):
        field = "remote_access_management_keys" if user == policy["management_user"] else "remote_access_administrators"
        raise AnsibleFilterError(
            f"{field}: {where}, but the policy lists no public key for {user!r} and SSH will accept keys only"
            " (for the management user: mi_management_ssh_keys in the inventory)"
        )
    if user == "root" and policy["permit_root_login"] == "no":
        raise AnsibleFilterError(
            f"remote_access_permit_root_login: {where}, but root login would be refused ('no');"
            " use 'prohibit-password' or connect as another management user"
        )
    groups = set(session.get("groups") or [])
    if not groups & set(allow):
        raise AnsibleFilterError(
            f"remote_access_admin_group: {where}, but {user!r} is in none of the allowed groups {allow}"
            f" (its groups: {sorted(groups)})"
        )
    nets = policy["management_networks"]
    if nets and not any(ipaddress.ip_address(client) in ipaddress.ip_network(n) for n in nets):
        raise AnsibleFilterError(
            f"remote_access_management_networks: {where}, but {client} is in none of {nets}"
        )
    if int(sport) not in policy["ports"]:
        raise AnsibleFilterError(
            f"remote_access_ports: {where}, but sshd would listen on {policy['ports']} only;"
            " list both ports for one run, then move ansible_port"
        )
    listen = policy["listen_addresses"]
    if listen and ipaddress.ip_address(server).compressed not in listen:
        raise AnsibleFilterError(
            f"remote_access_listen_addresses: {where}, but sshd would listen on {listen} only"
        )
    return {"ssh": True, "user": user, "allow_groups": allow, "reason": f"{where}: keeps working"}


def mi_ssh_algorithms(preferred: Any, supported: Any, field: str) -> str:
    """Return the policy's algorithms the host's OpenSSH supports, in policy order, joined by ','.

    ``supported`` is the output of ``ssh -Q kex|cipher|mac`` (a list of lines); when it is
    empty (OpenSSH not installed yet, check mode on a fresh host) the policy list is kept.
    """
    wanted = _list(preferred, field)
    if not wanted or not all(isinstance(a, str) and _ALGO_RE.match(a) for a in wanted):
        raise AnsibleFilterError(f"{field}: must be a non-empty list of algorithm names")
    have = [s.strip() for s in (supported or []) if isinstance(s, str) and s.strip()]
    if not have:
        return ",".join(wanted)
    kept = [a for a in wanted if a in have]
    if not kept:
        raise AnsibleFilterError(f"{field}: none of {wanted} is supported by this host's OpenSSH ({have})")
    return ",".join(kept)


def mi_openssh_version(text: Any) -> str:
    """``OpenSSH_9.2p1 Debian-2, OpenSSL 3.0`` -> ``9.2``; empty text when not recognised."""
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", text or "")
    return f"{match.group(1)}.{match.group(2)}" if match else ""


def mi_os_codename(text: Any, field: str = "/etc/os-release") -> str:
    """The release's code name in os-release text: ``VERSION_CODENAME`` (``bookworm``), else
    the name in brackets of ``PRETTY_NAME`` (``Debian GNU/Linux 12 (bookworm)``), as the
    ``distribution_release`` fact has it. Raises AnsibleFilterError naming ``field`` when
    neither is there (a host whose release the roles cannot tell)."""
    values: dict[str, str] = {}
    for line in (text if isinstance(text, str) else "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in ("VERSION_CODENAME", "PRETTY_NAME"):
            values[key] = value.strip().strip("'\"").strip()
    codename = values.get("VERSION_CODENAME", "")
    if not codename:
        match = re.search(r"\(([^()]+)\)\s*$", values.get("PRETTY_NAME", ""))
        codename = match.group(1).strip() if match else ""
    if not re.fullmatch(r"[a-z][a-z0-9._-]*", codename):
        raise AnsibleFilterError(
            f"{field}: no release code name (VERSION_CODENAME, or PRETTY_NAME with the name in"
            f" brackets), got {codename or 'none'!r}: the roles need it to pick the release's"
            " packages and APT suites"
        )
    return codename


# ------------------------------------------------------------------ base_os
BASE_OS_FIELDS = {
    "sysctl", "modules", "packages_absent", "umask", "file_permissions", "system_paths",
    "tmp_paths", "cron_users", "masked_units",
}


def mi_base_os_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """Validate the base_os input (keys without the ``base_os_`` prefix) and return it normalised."""
    if not isinstance(policy, dict):
        raise AnsibleFilterError("base_os policy: must be a mapping")
    unknown = sorted(set(policy) - BASE_OS_FIELDS)
    if unknown:
        raise AnsibleFilterError(f"base_os policy: unknown field(s) {unknown}")
    p = "base_os_"
    out: dict[str, Any] = {}

    sysctl = policy.get("sysctl") or {}
    if not isinstance(sysctl, dict):
        raise AnsibleFilterError(f"{p}sysctl: must be a mapping of kernel parameter to value")
    out["sysctl"] = {}
    for key, value in sysctl.items():
        if not isinstance(key, str) or not _SYSCTL_RE.match(key):
            raise AnsibleFilterError(f"{p}sysctl: {key!r} is not a kernel parameter name (e.g. net.ipv4.ip_forward)")
        if isinstance(value, bool) or not isinstance(value, (int, str)) or "\n" in str(value) or str(value) == "":
            raise AnsibleFilterError(f"{p}sysctl[{key!r}]: {value!r} must be a number or a one-line text")
        out["sysctl"][key] = str(value)

    for field, regex, what in (("modules", _MODULE_RE, "kernel module"), ("packages_absent", _PKG_RE, "Debian package"),
                               ("masked_units", re.compile(r"^[A-Za-z0-9@_.:-]+\.(service|socket|target|timer)$"), "systemd unit")):
        names = _list(policy.get(field), p + field)
        for i, name in enumerate(names):
            if not isinstance(name, str) or not regex.match(name):
                raise AnsibleFilterError(f"{p}{field}[{i}]: {name!r} is not a {what} name")
        out[field] = list(names)
    out["modules"] = sorted({m.replace("-", "_") for m in out["modules"]})

    umask = policy.get("umask", "027")
    if not isinstance(umask, str) or not _UMASK_RE.match(umask):
        raise AnsibleFilterError(f"{p}umask: {umask!r} must be an octal text in quotes, e.g. \"027\"")
    out["umask"] = umask[-3:]

    perms = []
    for i, entry in enumerate(_list(policy.get("file_permissions"), p + "file_permissions")):
        where = f"{p}file_permissions[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"path", "owner", "group", "mode"}:
            raise AnsibleFilterError(f"{where}: must be a mapping of path, owner, group and mode")
        path = entry.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise AnsibleFilterError(f"{where}.path: {path!r} must be an absolute path")
        owner = _name(entry.get("owner"), f"{where}({path}).owner", "user")
        group = _name(entry.get("group"), f"{where}({path}).group", "group")
        mode = entry.get("mode")
        if not isinstance(mode, str) or not _MODE_RE.match(mode):
            raise AnsibleFilterError(f"{where}({path}).mode: {mode!r} must be a quoted octal mode like \"0640\"")
        perms.append({"path": path, "owner": owner, "group": group, "mode": mode})
    out["file_permissions"] = perms

    for field in ("system_paths", "tmp_paths"):
        paths = _list(policy.get(field), p + field)
        for i, path in enumerate(paths):
            if not isinstance(path, str) or not re.match(r"^/[A-Za-z0-9._/-]*$", path) or "/../" in path + "/":
                raise AnsibleFilterError(f"{p}{field}[{i}]: {path!r} must be an absolute path (letters, digits, . _ - /)")
        out[field] = list(paths)
    if "/" in out["system_paths"]:
        raise AnsibleFilterError(f"{p}system_paths: '/' would search every mount; list the system directories")

    users = _list(policy.get("cron_users"), p + "cron_users")
    out["cron_users"] = list(dict.fromkeys(_name(u, f"{p}cron_users[{i}]", "user") for i, u in enumerate(users)))
    return out


def mi_sysctl_mismatch(settings: dict[str, Any], output: Any) -> list[str]:
    """Compare the policy's kernel parameters with ``sysctl -e KEY...`` output (``key = value``).

    Returns one text per parameter the running kernel has differently, or lacks.
    """
    running = {}
    for line in (output or "").splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            running[key.strip()] = " ".join(value.split())
    found = []
    for key, value in (settings or {}).items():
        want = " ".join(str(value).split())
        if key not in running:
            found.append(f"{key}: not available in this kernel (policy {want})")
        elif running[key] != want:
            found.append(f"{key}: running {running[key]}, policy {want}")
    return found


def mi_find_args(system_paths: list[str], tmp_paths: list[str]) -> list[str]:
    """``find`` arguments for one pass over the system directories (each on its own
    filesystem, the temporary directories pruned) printing one line per finding:
    ``W path`` world-writable file, ``D path`` world-writable directory without the sticky
    bit, ``U path (uid N, gid N)`` file of no existing user or group.
    """
    prune: list[str] = []
    for path in tmp_paths:
        prune += (["-o"] if prune else []) + ["-path", path]
    args = ["find", *system_paths, "-xdev"]
    if prune:
        args += ["(", *prune, ")", "-prune", "-o"]
    return args + [
        "(",
        "(", "-type", "f", "-perm", "-0002", "-printf", "W %p\\n", ")", ",",
        "(", "-type", "d", "-perm", "-0002", "!", "-perm", "-1000", "-printf", "D %p\\n", ")", ",",
        "(", "(", "-nouser", "-o", "-nogroup", ")", "-printf", "U %p (uid %U, gid %G)\\n", ")",
        ")",
    ]


_VERIFY_RE = re.compile(r"^(missing  |[?.0-9A-Za-z]{9}) ([c ]) (/.*)$")


def mi_dpkg_verify(output: Any, include_conffiles: bool = False, ignore: Any = None) -> list[str]:
    """Turn ``dpkg --verify`` output into findings ``"<path>: <what>"``.

    Changed configuration files (``c``) are local configuration, not tampering, and are
    left out unless ``include_conffiles``. Paths starting with one of ``ignore`` are left out.
    """
    findings = []
    prefixes = tuple(ignore or ())
    for line in (output or "").splitlines():
        match = _VERIFY_RE.match(line)
        if not match:
            continue
        flags, kind, path = match.groups()
        if (kind == "c" and not include_conffiles) or (prefixes and path.startswith(prefixes)):
            continue
        if flags.startswith("missing"):
            what = "missing"
        else:
            what = "checksum differs" if flags[2] == "5" else f"differs ({flags.strip()})"
        findings.append(f"{path}: {what}" + (" (configuration file)" if kind == "c" else ""))
    return findings


class FilterModule:
    """mi-harden base-system and remote-administration filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_ssh_policy": mi_ssh_policy,
            "mi_ssh_lockout": mi_ssh_lockout,
            "mi_ssh_algorithms": mi_ssh_algorithms,
            "mi_openssh_version": mi_openssh_version,
            "mi_os_codename": mi_os_codename,
            "mi_base_os_policy": mi_base_os_policy,
            "mi_dpkg_verify": mi_dpkg_verify,
            "mi_sysctl_mismatch": mi_sysctl_mismatch,
            "mi_find_args": mi_find_args,
        }
