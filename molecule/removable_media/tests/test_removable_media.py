"""Role removable_media: behaviour on the converged terminal, not file contents alone."""

import re

import pytest

STORAGE = ["usb_storage", "uas", "sr_mod", "cdrom", "firewire_sbp2", "mmc_block", "memstick"]
WIRELESS = ["cfg80211", "mac80211", "bluetooth", "btusb", "iwlwifi"]


@pytest.mark.parametrize("module", STORAGE)
def test_modprobe_refuses_storage_modules(host, module):
    """MI-MEDIA-01: modprobe resolves the module to the refusal, and loading it fails."""
    dry = host.run(f"modprobe -n -v {module}")
    assert "install /bin/false" in dry.stdout, dry.stdout + dry.stderr
    load = host.run(f"modprobe {module}")
    assert load.rc != 0
    assert "/bin/false" in load.stderr


@pytest.mark.parametrize("module", WIRELESS)
def test_modprobe_refuses_wireless_modules(host, module):
    """MI-MEDIA-02: Wi-Fi and Bluetooth stacks cannot load."""
    dry = host.run(f"modprobe -n -v {module}")
    assert "install /bin/false" in dry.stdout, dry.stdout + dry.stderr
    assert host.run(f"modprobe {module}").rc != 0


def test_usbguard_rules_parse(host):
    """MI-MEDIA-03: the rendered rules are accepted by USBGuard's own parser."""
    parsed = host.run("usbguard-rule-parser -f /etc/usbguard/rules.conf")
    assert parsed.rc == 0, parsed.stdout + parsed.stderr
    assert host.file("/etc/usbguard/rules.conf").mode == 0o600


def _rules(host):
    """The rules as USBGuard's parser normalises them (OUTPUT lines), in file order."""
    out = host.check_output("usbguard-rule-parser -f /etc/usbguard/rules.conf")
    rules = [line.split("OUTPUT: ", 1)[1] for line in out.splitlines() if line.startswith("OUTPUT: ")]
    return [r for r in rules if r.strip()]  # comments parse to empty rules


def _iface_match(pattern, iface):
    return all(p in ("*", v) for p, v in zip(pattern.split(":"), iface.split(":")))


def _decide(rules, dev_id, serial, interfaces):
    """First matching rule wins, as in usbguard-daemon; no match -> implicit block.

    Evaluates the subset of the rule language the role renders (id, serial,
    with-interface one-of / match-all); any other attribute makes the test fail loudly.
    """
    for rule in rules:
        m = re.match(r'^(allow|block|reject)(?: id (\S+))?(?: serial "([^"]*)")?'
                     r'(?: with-interface (one-of|match-all) \{ ([^}]*) \})?$', rule)
        assert m, f"rule outside the evaluated subset: {rule}"
        target, rid, rserial, op, ifaces = m.groups()
        if rid and rid != dev_id:
            continue
        if rserial is not None and rserial != serial:
            continue
        if op:
            pats = ifaces.split()
            if op == "one-of" and not any(_iface_match(p, i) for p in pats for i in interfaces):
                continue
            if op == "match-all" and not all(any(_iface_match(p, i) for p in pats) for i in interfaces):
                continue
        return target
    return "block"


def test_usbguard_rules_allow_registered_reader(host):
    """MI-MEDIA-03: the registered reader (id + serial) is allowed; a twin without the serial is not."""
    rules = _rules(host)
    assert _decide(rules, "08e6:4433", "MI-TEST-0001", ["0b:00:00"]) == "allow"
    assert _decide(rules, "08e6:4433", "STOLEN-READER", ["0b:00:00"]) == "block"
    # the reader registered for another terminal is not in this terminal's rules
    assert _decide(rules, "076b:3021", "OTHER-0001", ["0b:00:00"]) == "block"


def test_usbguard_rules_block_mass_storage(host):
    """MI-MEDIA-03: sticks are blocked, also when they pose as a keyboard; keyboards work."""
    rules = _rules(host)
    assert _decide(rules, "46f4:0001", "1", ["08:06:50"]) == "block"            # QEMU usb-storage
    assert _decide(rules, "0781:5567", "X", ["03:01:01", "08:06:50"]) == "block"  # HID + storage
    assert _decide(rules, "046d:c31c", None, ["03:01:01", "03:00:00"]) == "allow"  # keyboard
    assert _decide(rules, "1d6b:0002", None, ["09:00:00"]) == "allow"            # hub


def test_usbguard_daemon_enabled_with_audit_log(host):
    """MI-MEDIA-03: the daemon starts at boot wherever a USB bus exists, blocking by default."""
    assert host.service("usbguard").is_enabled
    conf = host.file("/etc/usbguard/usbguard-daemon.conf")
    assert conf.contains("^ImplicitPolicyTarget=block$")
    assert conf.contains("^InsertedDevicePolicy=apply-policy$")
    # no USB bus in a container: the unit's condition keeps it from a restart loop
    if not host.file("/sys/bus/usb/devices").exists:
        assert host.run("systemctl is-failed usbguard").stdout.strip() != "failed"


def test_udisks_automount_disabled(host):
    """MI-MEDIA-04: polkit refuses an operator's udisks2 mount outright (exit 1, not a challenge)."""
    check = host.run("su operator1 -s /bin/sh -c "
                     "'pkcheck --action-id org.freedesktop.udisks2.filesystem-mount --process $$'")
    assert check.rc == 1, check.stdout + check.stderr
    assert host.file("/etc/udev/rules.d/90-mi-harden-no-automount.rules").contains("UDISKS_IGNORE")
