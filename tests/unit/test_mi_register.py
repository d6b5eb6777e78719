"""filter_plugins/mi_register.py: what the register does not cover is reported."""

import pytest
from ansible.errors import AnsibleFilterError

from mi_media import mi_devices_for_host
from mi_register import mi_register_drift

REGISTER = mi_devices_for_host(
    [{"name": "Desk reader", "type": "ic_card_reader", "id": "08e6:4433", "serial": "S1"}], "t1")


def _inv(devices=(), accounts=()):
    return {"usb_devices": list(devices), "accounts": list(accounts)}


def _dev(id_, serial, classes, port="1-1"):
    return {"id": id_, "serial": serial, "interface_classes": classes, "device_class": "00", "port": port, "product": "p"}


def test_registered_reader_hubs_and_keyboards_are_fine():
    inv = _inv([_dev("08e6:4433", "S1", ["0b"]), _dev("1d6b:0002", None, ["09"]), _dev("046d:c31c", None, ["03"])],
               [{"name": "root", "uid": 0, "groups": ["root"]}, {"name": "wangf", "uid": 1000, "groups": ["sudo"]}])
    assert mi_register_drift(inv, REGISTER, ["root", "wangf"], ["sudo"]) == []


def test_unregistered_device_and_admin_are_reported():
    inv = _inv([_dev("46f4:0001", "1", ["08"]), _dev("08e6:4433", "OTHER", ["0b"]), _dev("0781:5567", "X", ["03", "08"])],
               [{"name": "intruder", "uid": 1001, "groups": ["sudo", "intruder"]},
                {"name": "toor", "uid": 0, "groups": []}, {"name": "op", "uid": 1002, "groups": ["op"]}])
    drift = mi_register_drift(inv, REGISTER, ["root"], ["sudo", "mi-admins"])
    assert len(drift) == 5
    assert drift[0].startswith("unregistered USB device 46f4:0001 serial 1")
    assert "unregistered USB device 08e6:4433 serial OTHER" in drift[1]
    assert "interface classes 03,08" in drift[2]
    assert drift[3] == "account intruder holds administrative rights (sudo) but is not a named administrator"
    assert drift[4] == "account toor holds administrative rights (uid 0) but is not a named administrator"


def test_malformed_inventory_is_an_error():
    with pytest.raises(AnsibleFilterError, match="lacks usb_devices or accounts"):
        mi_register_drift({}, [], [], [])
