"""Filters of filter_plugins/mi_media.py: device register, USBGuard rules, module list."""

import pytest
from ansible.errors import AnsibleFilterError

from mi_media import mi_blocked_modules, mi_devices_for_host, mi_usbguard_rules

READER = {"name": "Desk reader", "type": "ic_card_reader", "id": "08E6:4433", "serial": "S1"}
DISK = {"name": "Backup disk", "type": "backup_disk", "id": "1058:25a2", "serial": "W1", "hosts": ["t1"]}


def test_register_is_normalised_and_filtered_by_host():
    other = dict(READER, serial="S2", hosts=["t2"])
    devices = mi_devices_for_host([READER, DISK, other], "t1")
    assert [d["serial"] for d in devices] == ["S1", "W1"]
    assert devices[0]["id"] == "08e6:4433"
    assert devices[0]["interfaces"] == ["0b:*:*"]
    assert mi_devices_for_host(None, "t1") == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (dict(READER, id="8e6:4433"), r"mi_device_register\[0\] \('Desk reader'\)\.id: '8e6:4433' is not a USB vendor:product"),
        (dict(READER, id="08e6-4433"), r"\.id: '08e6-4433'"),
        (dict(READER, id=None), r"\.id: None"),
        (dict(READER, type="stick"), r"\.type: 'stick' is not one of"),
        (dict(READER, serial='a"b'), r"\.serial: must be"),
        (dict(READER, hosts="t1"), r"\.hosts: must be a list"),
        (dict(READER, interfaces=["0b:00"]), r"\.interfaces: "),
        ({"name": "x", "type": "other", "id": "1234:5678"}, r"\.interfaces: required for type 'other'"),
        (dict(READER, vendor="x"), r"unknown field\(s\) \['vendor'\]"),
        ({"type": "input", "id": "1234:5678"}, r"mi_device_register\[0\]\.name"),
        ("08e6:4433", r"mi_device_register\[0\]: must be a mapping"),
    ],
)
def test_bad_register_entry_names_the_entry_and_field(entry, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_devices_for_host([entry], "t1")


def test_bad_entry_of_another_host_still_fails():
    with pytest.raises(AnsibleFilterError, match=r"mi_device_register\[1\]"):
        mi_devices_for_host([READER, dict(READER, id="zz", hosts=["t9"])], "t1")


def test_duplicate_device_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"duplicates mi_device_register\[0\]"):
        mi_devices_for_host([READER, dict(READER)], "t1")


def test_register_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="mi_device_register: must be a list"):
        mi_devices_for_host({"a": 1}, "t1")


def test_rules_order_registered_before_storage_block():
    rules = mi_usbguard_rules(mi_devices_for_host([READER, DISK], "t1")).splitlines()
    body = [r for r in rules if r and not r.startswith("#")]
    assert body == [
        'allow id 08e6:4433 serial "S1" with-interface match-all { 0b:*:* }',
        'allow id 1058:25a2 serial "W1" with-interface match-all { 08:*:* }',
        "block with-interface one-of { 08:*:* }",
        "allow with-interface match-all { 09:*:* }",
        "allow with-interface match-all { 03:*:* }",
    ]


def test_rules_without_hid_or_hubs():
    body = [r for r in mi_usbguard_rules([], allow_hid=False, allow_hubs=False).splitlines() if not r.startswith("#")]
    assert body == ["block with-interface one-of { 08:*:* }"]


def test_modprobe_conf_keeps_usb_storage_for_registered_disks():
    groups = {"storage": ["usb-storage", "uas", "sr_mod"], "wireless": ["cfg80211"]}
    assert mi_blocked_modules(groups, []) == ["cfg80211", "sr_mod", "uas", "usb_storage"]
    with_disk = mi_devices_for_host([DISK], "t1")
    assert mi_blocked_modules(groups, with_disk) == ["cfg80211", "sr_mod"]


def test_bad_module_name_names_the_group():
    with pytest.raises(AnsibleFilterError, match="removable_media_storage_modules"):
        mi_blocked_modules({"storage": ["usb storage"]}, [])
