"""Network-isolation filters: the policy of the dedicated line checked and turned into rule data.

The terminal may talk only to the insurance centre over the dedicated line, to the site's
internal services and to loopback; only the management networks may reach it (GZ-4, GZ-C5,
GZ-C6, ZH-SEC-NET, ZH-YA-NET, PC-NET, PC-CONFID, ZH-NET-IDS). The policy (role variables of
``network_isolation``, wired from the shared ``mi_*`` names) is checked here with the
``ipaddress`` module; the nftables template only loops over what these filters return.

An endpoint is an IP address, a CIDR or a host name. Host names are resolved on the terminal
(``getent ahosts``) and passed in as ``resolved``; the filters themselves stay pure.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_network
short_description: Network-isolation policy checks and nftables rule data for mi-harden
description:
  - C(mi_network_names) lists the host names of a network policy that must be resolved.
  - C(mi_network_rules) checks the policy (CIDRs, ports 1-65535, overlapping allow/deny,
    empty centre list, IPv6 mode, default route) and returns the rule data of the ruleset.
  - C(mi_controller_allowed) refuses a run whose controller address (the SSH connection it
    uses) is outside the management networks or reaches an SSH port the rules would close.
  - C(mi_duration_seconds) parses a duration (C(90), C(45s), C(30m), C(2h), C(1h30m)).
  - C(mi_window_request) checks a request for a supervised Internet window (TWO-2).
"""

EXAMPLES = r"""
names: "{{ policy | mi_network_names }}"
rules: "{{ policy | mi_network_rules(resolved) }}"
ok: "{{ '10.1.2.3' | mi_controller_allowed(['10.0.0.0/8'], [22], 22) }}"
window: "{{ {'duration': '30m', 'reason': 'x', 'approved_by': 'y'} | mi_window_request('4h') }}"
"""

RETURN = r"""
_value:
  description: list of names, rule data mapping, true, seconds, or the checked window request.
"""

PROTOCOLS = ("tcp", "udp")
IPV6_MODES = ("drop", "filter")
_NAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_COMMENT_RE = re.compile(r'["\\\n\r]')
_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_IFACE_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# ----------------------------------------------------------------------------- primitives
def _network(value: Any, field: str) -> Network:
    """A CIDR or a single address (as /32 or /128); host bits set are refused."""
    if not isinstance(value, str) or not value.strip():
        raise AnsibleFilterError(f"{field}: {value!r} is not an IP network (CIDR such as '10.20.0.0/16')")
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise AnsibleFilterError(f"{field}: {value!r} is not a valid CIDR ({exc})") from None


def _address(value: Any, field: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(value, str):
        raise AnsibleFilterError(f"{field}: {value!r} is not an IP address")
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise AnsibleFilterError(f"{field}: {value!r} is not an IP address") from None


def _port(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise AnsibleFilterError(f"{field}: {value!r} is not a port number (an integer 1-65535)")
    return value


def _ports(value: Any, field: str, required: bool = True) -> list[int]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise AnsibleFilterError(f"{field}: must be a non-empty list of port numbers (1-65535)")
    return sorted({_port(p, f"{field}[{i}]") for i, p in enumerate(value)})


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AnsibleFilterError(f"{field}: must be a list, got {type(value).__name__}")
    return value


def _comment(value: Any, field: str, limit: int = 100) -> str:
    text = "" if value is None else str(value)
    if _COMMENT_RE.search(text) or len(text) > limit:
        raise AnsibleFilterError(f"{field}: {value!r} must be a short text without quotes, backslashes or newlines")
    return text


def _is_name(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
        return False
    except ValueError:
        return bool(_NAME_RE.match(value)) and not re.match(r"^[\d.]+$", value)


def _mirror_endpoint(url: Any, field: str) -> tuple[str, int] | None:
    """(host, port) of the package mirror or caching proxy URL; None when no mirror is named."""
    if url in (None, ""):
        return None
    if not isinstance(url, str):
        raise AnsibleFilterError(f"{field}: {url!r} is not a URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AnsibleFilterError(f"{field}: {url!r} is not an http:// or https:// URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise AnsibleFilterError(f"{field}: {url!r} has a port outside 1-65535") from None
    return parts.hostname, _port(port, f"{field} (port)")


# ----------------------------------------------------------------------------- endpoints
def _endpoints(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """Every destination the output chain allows, as (field, address, proto/ports, comment)."""
    if not isinstance(policy, dict):
        raise AnsibleFilterError("network_isolation policy: must be a mapping of the role's network settings")
    out: list[dict[str, Any]] = []

    centre = policy.get("centre_networks")
    if not isinstance(centre, list) or not centre:
        raise AnsibleFilterError(
            "network_isolation_centre_networks: empty; the dedicated line needs at least one centre network "
            "(mi_centre_networks: [{cidr: 172.30.0.0/24, ports: [443]}])"
        )
    for i, entry in enumerate(centre):
        field = f"network_isolation_centre_networks[{i}]"
        if not isinstance(entry, dict):
            raise AnsibleFilterError(f"{field}: must be a mapping with cidr, ports and proto")
        unknown = sorted(set(entry) - {"cidr", "ports", "proto", "name"})
        if unknown:
            raise AnsibleFilterError(f"{field}: unknown field(s) {unknown}; allowed: cidr, ports, proto, name")
        proto = entry.get("proto", "tcp")
        if proto not in PROTOCOLS:
            raise AnsibleFilterError(f"{field}.proto: {proto!r} is not one of {list(PROTOCOLS)}")
        net = _network(entry.get("cidr"), f"{field}.cidr")
        if net.prefixlen == 0:
            raise AnsibleFilterError(f"{field}.cidr: {net} is the whole Internet, not the insurance centre")
        out.append({"field": f"{field}.cidr", "address": str(net), "rules": [(proto, _ports(entry.get("ports"), f"{field}.ports"))],
                    "comment": _comment(entry.get("name") or f"centre {net}", f"{field}.name"), "kind": "centre"})

    for key, rules, label in (("dns_servers", [("udp", [53]), ("tcp", [53])], "DNS"),
                              ("ntp_servers", [("udp", [123])], "NTP")):
        for i, server in enumerate(_list(policy.get(key), f"network_isolation_{key}")):
            out.append({"field": f"network_isolation_{key}[{i}]", "address": server, "rules": rules,
                        "comment": f"{label} {server}", "kind": "service"})

    mirror = _mirror_endpoint(policy.get("package_mirror"), "network_isolation_package_mirror")
    if mirror:
        out.append({"field": "network_isolation_package_mirror", "address": mirror[0], "rules": [("tcp", [mirror[1]])],
                    "comment": f"package mirror {mirror[0]}", "kind": "service"})

    for i, svc in enumerate(_list(policy.get("services"), "network_isolation_services")):
        field = f"network_isolation_services[{i}]"
        if not isinstance(svc, dict):
            raise AnsibleFilterError(f"{field}: must be a mapping with name, address, ports and proto")
        unknown = sorted(set(svc) - {"name", "address", "ports", "proto"})
        if unknown:
            raise AnsibleFilterError(f"{field}: unknown field(s) {unknown}; allowed: name, address, ports, proto")
        proto = svc.get("proto", "tcp")
        if proto not in PROTOCOLS:
            raise AnsibleFilterError(f"{field}.proto: {proto!r} is not one of {list(PROTOCOLS)}")
        name = _comment(svc.get("name"), f"{field}.name")
        if not name:
            raise AnsibleFilterError(f"{field}.name: required (e.g. 'backup server')")
        out.append({"field": f"{field}.address", "address": svc.get("address"),
                    "rules": [(proto, _ports(svc.get("ports"), f"{field}.ports"))], "comment": name, "kind": "service"})

    for ep in out:
        addr = ep["address"]
        if not isinstance(addr, str) or not addr.strip():
            raise AnsibleFilterError(f"{ep['field']}: {addr!r} is not an IP address, CIDR or host name")
        if not _is_name(addr):
            net = _network(addr, ep["field"])
            if net.prefixlen == 0:
                raise AnsibleFilterError(f"{ep['field']}: {addr!r} is the whole Internet, not an internal service")
    return out


def mi_network_names(policy: dict[str, Any]) -> list[str]:
    """The host names among the policy's destinations, to be resolved on the terminal."""
    return sorted({ep["address"] for ep in _endpoints(policy) if _is_name(ep["address"])})


# ----------------------------------------------------------------------------- rule data
def _set_text(items: list[Any]) -> str:
    """nft anonymous set text; single addresses without their /32 or /128."""
    def one(item: Any) -> str:
        if isinstance(item, (ipaddress.IPv4Network, ipaddress.IPv6Network)) and item.prefixlen == item.max_prefixlen:
            return str(item.network_address)
        return str(item)
    return "{ " + ", ".join(one(n) for n in items) + " }"


def _family_split(nets: list[Network]) -> dict[str, list[Network]]:
    return {"ip": [n for n in nets if n.version == 4], "ip6": [n for n in nets if n.version == 6]}


def _collapse(nets: list[Network]) -> list[Network]:
    v4 = list(ipaddress.collapse_addresses([n for n in nets if n.version == 4]))
    v6 = list(ipaddress.collapse_addresses([n for n in nets if n.version == 6]))
    return [*v4, *v6]


def mi_network_rules(policy: dict[str, Any], resolved: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Check the network policy and return the data the nftables template renders.

    ``policy`` keys (role variables without the ``network_isolation_`` prefix):
    management_networks, centre_networks, dns_servers, ntp_servers, package_mirror, services,
    deny_networks, ssh_ports, ipv6 (drop|filter), line_gateway, line_interface, default_route
    (absent|keep|an address). ``resolved`` maps host names to their addresses.

    Returns ``input`` and ``output`` lists of ``{match, comment}`` (nft match expressions),
    ``deny`` (match expressions), ``routes`` (``{cidr, via, dev}``), ``unresolved`` (names
    without an address: not allowed, reported as drift) and the normalised settings.
    Raises AnsibleFilterError naming the field: malformed CIDR, port outside 1-65535,
    empty centre list, allowed destinations or management networks overlapping a denied
    network, IPv6 networks while IPv6 is dropped, a bad gateway or default route.
    """
    resolved = resolved or {}
    if not isinstance(resolved, dict):
        raise AnsibleFilterError("resolved names: must be a mapping of host name to addresses")
    endpoints = _endpoints(policy)

    ipv6 = policy.get("ipv6", "drop")
    if ipv6 not in IPV6_MODES:
        raise AnsibleFilterError(f"network_isolation_ipv6: {ipv6!r} is not one of {list(IPV6_MODES)}")

    mgmt_raw = policy.get("management_networks")
    if not isinstance(mgmt_raw, list) or not mgmt_raw:
        raise AnsibleFilterError("network_isolation_management_networks: empty; the controllers would be locked out "
                                 "(mi_management_networks: ['10.0.0.0/8'])")
    mgmt = [_network(n, f"network_isolation_management_networks[{i}]") for i, n in enumerate(mgmt_raw)]
    for i, net in enumerate(mgmt):
        if net.prefixlen == 0:
            raise AnsibleFilterError(f"network_isolation_management_networks[{i}]: {net} would open SSH to the whole Internet")
    deny = [_network(n, f"network_isolation_deny_networks[{i}]")
            for i, n in enumerate(_list(policy.get("deny_networks"), "network_isolation_deny_networks"))]
    ssh_ports = _ports(policy.get("ssh_ports", [22]), "network_isolation_ssh_ports")

    # resolve endpoints to networks
    unresolved: list[str] = []
    allowed: list[tuple[dict[str, Any], list[Network]]] = []
    for ep in endpoints:
        addr = ep["address"]
        if _is_name(addr):
            # `getent ahosts` lines ("10.0.0.5  STREAM name") or plain addresses
            addrs = sorted({str(a).split()[0] for a in _list(resolved.get(addr), f"resolved[{addr}]") if str(a).strip()})
            nets = [_network(a, f"{ep['field']} ({addr} resolves to)") for a in addrs]
            if not nets:
                unresolved.append(f"{ep['field']}: {addr} does not resolve on this terminal; not allowed")
                continue
        else:
            nets = [_network(addr, ep["field"])]
        allowed.append((ep, nets))

    # IPv6 consistency
    if ipv6 == "drop":
        for i, net in enumerate(mgmt):
            if net.version == 6:
                raise AnsibleFilterError(f"network_isolation_management_networks[{i}]: {net} is IPv6 but network_isolation_ipv6 is 'drop'")
        for ep, nets in allowed:
            if any(n.version == 6 for n in nets) and not _is_name(ep["address"]):
                raise AnsibleFilterError(f"{ep['field']}: {ep['address']} is IPv6 but network_isolation_ipv6 is 'drop'")
        # resolved names: keep their IPv4 addresses only
        allowed = [(ep, [n for n in nets if n.version == 4]) for ep, nets in allowed]
        allowed = [(ep, nets) for ep, nets in allowed if nets]

    # overlapping allow/deny
    for j, bad in enumerate(deny):
        for i, net in enumerate(mgmt):
            if net.overlaps(bad):
                raise AnsibleFilterError(
                    f"network_isolation_management_networks[{i}]: {net} overlaps network_isolation_deny_networks[{j}] {bad}"
                )
        for ep, nets in allowed:
            for net in nets:
                if net.overlaps(bad):
                    raise AnsibleFilterError(
                        f"{ep['field']}: {ep['address']} ({net}) overlaps network_isolation_deny_networks[{j}] {bad}"
                    )

    # output rules, grouped by (family, proto, ports, comment)
    output: list[dict[str, str]] = []
    for ep, nets in allowed:
        for fam, fam_nets in _family_split(_collapse(nets)).items():
            if not fam_nets:
                continue
            for proto, ports in ep["rules"]:
                output.append({
                    "match": f"{fam} daddr {_set_text(fam_nets)} {proto} dport {_set_text(ports)}",
                    "comment": ep["comment"],
                })

    inputs: list[dict[str, str]] = []
    for fam, fam_nets in _family_split(_collapse(mgmt)).items():
        if fam_nets:
            inputs.append({"match": f"{fam} saddr {_set_text(fam_nets)} tcp dport {_set_text(ssh_ports)}",
                           "comment": "SSH from the management networks"})
            # The replies of SSH sessions, matched without connection tracking: a session open
            # before the first ruleset loads (the controller's own) is picked up mid-stream, and
            # when its first packet seen is the terminal's, conntrack calls it new. Without
            # this rule that packet is dropped and the controller is cut off.
            output.insert(0, {"match": f"{fam} daddr {_set_text(fam_nets)} tcp sport {_set_text(ssh_ports)}",
                              "comment": "SSH replies to the management networks"})
            icmp = "icmp type echo-request" if fam == "ip" else "icmpv6 type echo-request"
            inputs.append({"match": f"{fam} saddr {_set_text(fam_nets)} {icmp}", "comment": "ping from the management networks"})

    deny_matches = [{"match": f"{fam} daddr {_set_text(nets)}", "comment": "denied networks"}
                    for fam, nets in _family_split(_collapse(deny)).items() if nets]

    routes = _routes(policy, [nets for ep, nets in allowed if ep["kind"] == "centre"])
    default_route = _default_route(policy.get("default_route", "absent"))
    if not routes and default_route == "absent":
        raise AnsibleFilterError(
            "network_isolation_line_gateway: empty, and no network_isolation_line_interface either: with no default "
            "route the centre would be unreachable (mi_dedicated_line_gateway: the next hop of the dedicated line)"
        )

    return {
        "input": inputs,
        "output": output,
        "deny": deny_matches,
        "routes": routes,
        "default_route": default_route,
        "ipv6": ipv6,
        "ssh_ports": ssh_ports,
        "management_networks": [str(n) for n in mgmt],
        "unresolved": unresolved,
    }


def _routes(policy: dict[str, Any], centre_nets: list[list[Network]]) -> list[dict[str, str]]:
    gateway = policy.get("line_gateway") or ""
    dev = policy.get("line_interface") or ""
    if dev and (not isinstance(dev, str) or not _IFACE_RE.match(dev)):
        raise AnsibleFilterError(f"network_isolation_line_interface: {dev!r} is not an interface name")
    if not gateway and not dev:
        return []
    via = _address(gateway, "network_isolation_line_gateway") if gateway else None
    routes = []
    for nets in centre_nets:
        for net in nets:
            if via is not None and via.version != net.version:
                raise AnsibleFilterError(
                    f"network_isolation_line_gateway: {via} is IPv{via.version} but centre network {net} is IPv{net.version}"
                )
            if via is not None and via in net:
                raise AnsibleFilterError(f"network_isolation_line_gateway: {via} lies inside the centre network {net} it should lead to")
            routes.append({"cidr": str(net), "via": str(via) if via else "", "dev": dev})
    return routes


def _default_route(value: Any) -> str:
    if value in ("absent", "keep"):
        return value
    return str(_address(value, "network_isolation_default_route (absent, keep or the gateway address)"))


# ----------------------------------------------------------------------------- lockout check
def mi_controller_allowed(controller: Any, management_networks: list[str], ssh_ports: list[int] | None = None,
                          server_port: Any = None) -> bool:
    """True when the controller's address is inside the management networks (and the SSH
    port it uses stays open); otherwise AnsibleFilterError explaining the lockout."""
    addr = _address(controller, "network_isolation_controller_address (the address this run connects from)")
    nets = [_network(n, f"network_isolation_management_networks[{i}]") for i, n in enumerate(_list(management_networks, "network_isolation_management_networks"))]
    if not any(addr in n for n in nets):
        raise AnsibleFilterError(
            f"network_isolation_management_networks: the controller connects from {addr}, which is outside "
            f"{[str(n) for n in nets]}; applying these rules would lock this run out. Run from a management host "
            "or add its network to mi_management_networks."
        )
    if server_port not in (None, ""):
        port = _port(int(server_port) if str(server_port).isdigit() else server_port, "SSH server port of this connection")
        if port not in (ssh_ports or [22]):
            raise AnsibleFilterError(
                f"network_isolation_ssh_ports: this run reaches SSH on port {port}, which {list(ssh_ports or [22])} would close"
            )
    return True


# ----------------------------------------------------------------------------- Internet window
def mi_duration_seconds(value: Any, field: str = "duration") -> int:
    """Seconds of a duration: an integer (seconds) or text such as 45s, 30m, 2h, 1h30m."""
    if isinstance(value, bool):
        raise AnsibleFilterError(f"{field}: {value!r} is not a duration (e.g. 30m, 2h, 90s)")
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value or "").strip().lower()
        match = _DURATION_RE.match(text)
        if text.isdigit():
            seconds = int(text)
        elif text and match:
            h, m, s = (int(g) if g else 0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
        else:
            raise AnsibleFilterError(f"{field}: {value!r} is not a duration (e.g. 30m, 2h, 90s)")
    if seconds <= 0:
        raise AnsibleFilterError(f"{field}: {value!r} must be longer than zero")
    return seconds


def mi_window_request(request: dict[str, Any], max_duration: Any) -> dict[str, Any]:
    """Check a supervised Internet window request (TWO-2) and return it normalised.

    ``request``: duration, reason, approved_by, destinations (optional CIDR list, default the
    whole IPv4 Internet). A missing reason or approver, or a duration above the policy's
    maximum, is refused.
    """
    if not isinstance(request, dict):
        raise AnsibleFilterError("Internet window request: must be a mapping")
    for key in ("reason", "approved_by"):
        value = request.get(key)
        if not isinstance(value, str) or not value.strip():
            raise AnsibleFilterError(f"{key}: required; an Internet window needs -e reason=... and -e approved_by=... (TWO-2)")
        _comment(value, key, limit=300)
    if request.get("duration") in (None, ""):
        raise AnsibleFilterError("duration: required (e.g. -e duration=30m)")
    seconds = mi_duration_seconds(request.get("duration"), "duration")
    maximum = mi_duration_seconds(max_duration, "network_isolation_window_max")
    if seconds > maximum:
        raise AnsibleFilterError(f"duration: {request.get('duration')} ({seconds}s) is longer than the policy allows "
                                 f"(network_isolation_window_max: {max_duration}, {maximum}s)")
    dests = request.get("destinations") or ["0.0.0.0/0"]
    if isinstance(dests, str):
        dests = [d for d in dests.split(",") if d]
    nets = [_network(d, f"destinations[{i}]") for i, d in enumerate(_list(dests, "destinations"))]
    return {
        "seconds": seconds,
        "reason": request["reason"].strip(),
        "approved_by": request["approved_by"].strip(),
        "destinations_v4": [str(n) for n in nets if n.version == 4],
        "destinations_v6": [str(n) for n in nets if n.version == 6],
    }


class FilterModule:
    """mi-harden network-isolation filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_network_names": mi_network_names,
            "mi_network_rules": mi_network_rules,
            "mi_controller_allowed": mi_controller_allowed,
            "mi_duration_seconds": mi_duration_seconds,
            "mi_window_request": mi_window_request,
        }
