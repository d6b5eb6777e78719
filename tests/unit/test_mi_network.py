"""Filters of filter_plugins/mi_network.py: network policy checks, rule data, lockout, window."""

import pytest
from ansible.errors import AnsibleFilterError

from mi_network import (
    mi_controller_allowed,
    mi_duration_seconds,
    mi_network_names,
    mi_network_rules,
    mi_window_request,
)

CENTRE = {"cidr": "172.30.0.0/24", "ports": [443, 8443], "proto": "tcp", "name": "Guizhou centre"}
POLICY = {
    "management_networks": ["10.0.0.0/8"],
    "centre_networks": [CENTRE],
    "line_gateway": "10.20.0.254",
    "line_interface": "",
    "dns_servers": ["10.20.0.53"],
    "ntp_servers": ["ntp.hosp-a.example"],
    "package_mirror": "http://10.20.0.5:3142/debian",
    "services": [{"name": "log server", "address": "10.20.0.9", "ports": [514], "proto": "udp"}],
    "deny_networks": ["192.0.2.0/24"],
    "ssh_ports": [22],
    "ipv6": "drop",
    "default_route": "absent",
}


def policy(**changes):
    return dict(POLICY, **changes)


def test_names_to_resolve_are_the_host_names_only():
    assert mi_network_names(POLICY) == ["ntp.hosp-a.example"]
    assert mi_network_names(policy(package_mirror="http://mirror.hosp-a.example:3142/")) == [
        "mirror.hosp-a.example", "ntp.hosp-a.example"]


def test_rule_data_of_a_complete_policy():
    rules = mi_network_rules(POLICY, {"ntp.hosp-a.example": ["10.20.0.123  DGRAM ntp.hosp-a.example", "10.20.0.123"]})
    assert rules["input"][0] == {"match": "ip saddr { 10.0.0.0/8 } tcp dport { 22 }", "comment": "SSH from the management networks"}
    # replies of the controller's session are allowed without conntrack (mid-stream pickup)
    assert rules["output"][0] == {"match": "ip daddr { 10.0.0.0/8 } tcp sport { 22 }", "comment": "SSH replies to the management networks"}
    assert {"match": "ip daddr { 172.30.0.0/24 } tcp dport { 443, 8443 }", "comment": "Guizhou centre"} in rules["output"]
    matches = [r["match"] for r in rules["output"]]
    assert "ip daddr { 10.20.0.53 } udp dport { 53 }" in matches
    assert "ip daddr { 10.20.0.53 } tcp dport { 53 }" in matches
    assert "ip daddr { 10.20.0.123 } udp dport { 123 }" in matches
    assert "ip daddr { 10.20.0.5 } tcp dport { 3142 }" in matches
    assert "ip daddr { 10.20.0.9 } udp dport { 514 }" in matches
    assert rules["deny"] == [{"match": "ip daddr { 192.0.2.0/24 }", "comment": "denied networks"}]
    assert rules["routes"] == [{"cidr": "172.30.0.0/24", "via": "10.20.0.254", "dev": ""}]
    assert rules["default_route"] == "absent"
    assert rules["unresolved"] == []


def test_unresolved_name_is_reported_not_allowed():
    rules = mi_network_rules(POLICY, {})
    assert rules["unresolved"] == ["network_isolation_ntp_servers[0]: ntp.hosp-a.example does not resolve on this terminal; not allowed"]
    assert not any("123" in r["match"] for r in rules["output"])


def test_ipv6_filter_mode_renders_ip6_rules_and_drop_mode_keeps_v4_of_names():
    rules = mi_network_rules(policy(ipv6="filter", management_networks=["10.0.0.0/8", "fd00:1::/64"]), {"ntp.hosp-a.example": ["fd00::123", "10.20.0.123"]})
    assert "ip6 saddr { fd00:1::/64 } tcp dport { 22 }" in [r["match"] for r in rules["input"]]
    assert "ip6 daddr { fd00::123 } udp dport { 123 }" in [r["match"] for r in rules["output"]]
    dropped = mi_network_rules(POLICY, {"ntp.hosp-a.example": ["fd00::123", "10.20.0.123"]})
    assert not any("ip6" in r["match"] for r in dropped["output"] + dropped["input"])


def test_route_by_interface_and_kept_default_route():
    rules = mi_network_rules(policy(line_gateway="", line_interface="eth1", default_route="keep"), {})
    assert rules["routes"] == [{"cidr": "172.30.0.0/24", "via": "", "dev": "eth1"}]
    assert mi_network_rules(policy(default_route="10.20.0.1"), {})["default_route"] == "10.20.0.1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # malformed CIDRs and addresses
        ({"management_networks": ["10.0.0.0/33"]}, r"network_isolation_management_networks\[0\]: '10.0.0.0/33' is not a valid CIDR"),
        ({"management_networks": ["10.0.0.1/8"]}, r"network_isolation_management_networks\[0\]: '10.0.0.1/8' is not a valid CIDR \(.*host bits"),
        ({"centre_networks": [dict(CENTRE, cidr="172.30.0/24")]}, r"network_isolation_centre_networks\[0\]\.cidr: '172.30.0/24' is not a valid CIDR"),
        ({"centre_networks": [dict(CENTRE, cidr=None)]}, r"network_isolation_centre_networks\[0\]\.cidr: None is not an IP network"),
        ({"deny_networks": ["bogus"]}, r"network_isolation_deny_networks\[0\]: 'bogus' is not a valid CIDR"),
        ({"dns_servers": ["10.20.0.300"]}, r"network_isolation_dns_servers\[0\]: '10.20.0.300' is not a valid CIDR"),
        ({"line_gateway": "10.20.0.x"}, r"network_isolation_line_gateway: '10.20.0.x' is not an IP address"),
        ({"line_gateway": "172.30.0.1"}, r"network_isolation_line_gateway: 172.30.0.1 lies inside the centre network"),
        ({"default_route": "sometimes"}, r"network_isolation_default_route \(absent, keep or the gateway address\): 'sometimes'"),
        ({"line_interface": "eth 0"}, r"network_isolation_line_interface: 'eth 0' is not an interface name"),
        # ports outside 1-65535
        ({"centre_networks": [dict(CENTRE, ports=[0])]}, r"network_isolation_centre_networks\[0\]\.ports\[0\]: 0 is not a port number"),
        ({"centre_networks": [dict(CENTRE, ports=[443, 65536])]}, r"network_isolation_centre_networks\[0\]\.ports\[1\]: 65536 is not a port number"),
        ({"centre_networks": [dict(CENTRE, ports=["443"])]}, r"\.ports\[0\]: '443' is not a port number"),
        ({"centre_networks": [dict(CENTRE, ports=[])]}, r"network_isolation_centre_networks\[0\]\.ports: must be a non-empty list"),
        ({"ssh_ports": [22, 70000]}, r"network_isolation_ssh_ports\[1\]: 70000 is not a port number"),
        ({"services": [{"name": "x", "address": "10.1.1.1", "ports": [-1]}]}, r"network_isolation_services\[0\]\.ports\[0\]: -1"),
        ({"package_mirror": "http://10.20.0.5:99999/"}, r"network_isolation_package_mirror: .* port outside 1-65535"),
        ({"package_mirror": "ftp://10.20.0.5/"}, r"network_isolation_package_mirror: 'ftp://10.20.0.5/' is not an http:// or https:// URL"),
        # overlapping allow/deny
        ({"deny_networks": ["172.30.0.128/25"]}, r"network_isolation_centre_networks\[0\]\.cidr: 172.30.0.0/24 .* overlaps network_isolation_deny_networks\[0\] 172.30.0.128/25"),
        ({"deny_networks": ["10.20.0.0/24"]}, r"network_isolation_management_networks\[0\]: 10.0.0.0/8 overlaps network_isolation_deny_networks\[0\]"),
        ({"management_networks": ["192.168.1.0/24"], "deny_networks": ["10.20.0.48/28"]},
         r"network_isolation_dns_servers\[0\]: 10.20.0.53 \(10.20.0.53/32\) overlaps network_isolation_deny_networks\[0\]"),
        # empty centre list, Internet as centre or management, IPv6 while dropped
        ({"centre_networks": []}, r"network_isolation_centre_networks: empty; the dedicated line needs at least one centre network"),
        ({"centre_networks": None}, r"network_isolation_centre_networks: empty"),
        ({"centre_networks": [dict(CENTRE, cidr="0.0.0.0/0")]}, r"network_isolation_centre_networks\[0\]\.cidr: 0.0.0.0/0 is the whole Internet"),
        ({"management_networks": []}, r"network_isolation_management_networks: empty; the controllers would be locked out"),
        ({"management_networks": ["0.0.0.0/0"]}, r"network_isolation_management_networks\[0\]: 0.0.0.0/0 would open SSH to the whole Internet"),
        ({"dns_servers": ["0.0.0.0/0"]}, r"network_isolation_dns_servers\[0\]: '0.0.0.0/0' is the whole Internet"),
        ({"management_networks": ["fd00::/64"]}, r"network_isolation_management_networks\[0\]: fd00::/64 is IPv6 but network_isolation_ipv6 is 'drop'"),
        ({"ipv6": "off"}, r"network_isolation_ipv6: 'off' is not one of \['drop', 'filter'\]"),
        # shapes of entries
        ({"centre_networks": [dict(CENTRE, proto="icmp")]}, r"network_isolation_centre_networks\[0\]\.proto: 'icmp' is not one of"),
        ({"centre_networks": [dict(CENTRE, port=443)]}, r"network_isolation_centre_networks\[0\]: unknown field\(s\) \['port'\]"),
        ({"centre_networks": ["172.30.0.0/24"]}, r"network_isolation_centre_networks\[0\]: must be a mapping"),
        ({"centre_networks": [dict(CENTRE, name='a"b')]}, r"network_isolation_centre_networks\[0\]\.name: "),
        ({"services": [{"address": "10.1.1.1", "ports": [22]}]}, r"network_isolation_services\[0\]\.name: required"),
        ({"services": [{"name": "x", "address": "", "ports": [22]}]}, r"network_isolation_services\[0\]\.address: '' is not an IP address, CIDR or host name"),
        ({"dns_servers": "10.20.0.53"}, r"network_isolation_dns_servers: must be a list"),
        ({"line_gateway": "", "line_interface": ""}, r"network_isolation_line_gateway: empty, and no network_isolation_line_interface"),
    ],
)
def test_bad_policy_names_the_field(changes, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_network_rules(policy(**changes), {})


def test_policy_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError, match="network_isolation policy: must be a mapping"):
        mi_network_names(["10.0.0.0/8"])


def test_resolved_name_inside_a_denied_network_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"network_isolation_ntp_servers\[0\]: ntp.hosp-a.example \(192.0.2.1/32\) overlaps"):
        mi_network_rules(POLICY, {"ntp.hosp-a.example": ["192.0.2.1"]})


# ----------------------------------------------------------------------------- lockout check
def test_controller_inside_the_management_networks_is_allowed():
    assert mi_controller_allowed("10.1.2.3", ["10.0.0.0/8"], [22], "22") is True
    assert mi_controller_allowed("10.1.2.3", ["10.0.0.0/8"], [22]) is True


def test_controller_outside_the_management_networks_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"the controller connects from 192.168.5.5, which is outside \['10.0.0.0/8'\]; .*lock this run out"):
        mi_controller_allowed("192.168.5.5", ["10.0.0.0/8"], [22], "22")


def test_controller_on_an_ssh_port_the_rules_close_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"network_isolation_ssh_ports: this run reaches SSH on port 2222"):
        mi_controller_allowed("10.1.2.3", ["10.0.0.0/8"], [22], "2222")


def test_controller_address_must_be_an_address():
    with pytest.raises(AnsibleFilterError, match=r"network_isolation_controller_address .*: '' is not an IP address"):
        mi_controller_allowed("", ["10.0.0.0/8"])


# ----------------------------------------------------------------------------- Internet window
@pytest.mark.parametrize(("text", "seconds"), [("90", 90), (90, 90), ("45s", 45), ("30m", 1800), ("2h", 7200), ("1h30m", 5400)])
def test_durations(text, seconds):
    assert mi_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "30 minutes", "0", "0m", "-5", True, "1d"])
def test_bad_durations(text):
    with pytest.raises(AnsibleFilterError, match="duration: "):
        mi_duration_seconds(text)


def test_window_request_is_normalised():
    req = mi_window_request({"duration": "30m", "reason": " driver download ", "approved_by": "Wang Fang",
                             "destinations": "203.0.113.0/24,2001:db8::/32"}, "4h")
    assert req == {"seconds": 1800, "reason": "driver download", "approved_by": "Wang Fang",
                   "destinations_v4": ["203.0.113.0/24"], "destinations_v6": ["2001:db8::/32"]}
    assert mi_window_request({"duration": "5s", "reason": "r", "approved_by": "a"}, "4h")["destinations_v4"] == ["0.0.0.0/0"]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"duration": "30m", "approved_by": "a"}, r"reason: required"),
        ({"duration": "30m", "reason": "  ", "approved_by": "a"}, r"reason: required"),
        ({"duration": "30m", "reason": "r"}, r"approved_by: required"),
        ({"reason": "r", "approved_by": "a"}, r"duration: required"),
        ({"duration": "5h", "reason": "r", "approved_by": "a"}, r"duration: 5h \(18000s\) is longer than the policy allows \(network_isolation_window_max: 4h"),
        ({"duration": "30m", "reason": 'say "hi"', "approved_by": "a"}, r"reason: "),
        ({"duration": "30m", "reason": "r", "approved_by": "a", "destinations": ["203.0.113.1/24"]}, r"destinations\[0\]: '203.0.113.1/24' is not a valid CIDR"),
        ("open", r"Internet window request: must be a mapping"),
    ],
)
def test_bad_window_request_is_refused(request_, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_window_request(request_, "4h")


def test_bad_window_maximum_is_named():
    with pytest.raises(AnsibleFilterError, match="network_isolation_window_max: 'forever'"):
        mi_window_request({"duration": "5m", "reason": "r", "approved_by": "a"}, "forever")
