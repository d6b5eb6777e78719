"""Register filter: what a terminal has that the register does not name (TWO-4, ZH-SEC-AC)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_register_drift
short_description: Unregistered USB devices and unnamed administrators of a terminal
description:
  - Compares the inventory collected on a terminal (roles/terminal_register) with the
    device register and the named administrators; returns one message per finding.
"""

EXAMPLES = r"""
drift: "{{ inventory | mi_register_drift(devices, ['wangf', 'root'], ['sudo', 'mi-admins']) }}"
"""

RETURN = r"""
_value:
  description: list of texts, empty when everything is registered.
"""

HUB_CLASS = "09"
HID_CLASS = "03"


def _registered(dev: dict[str, Any], registered: list[dict[str, Any]]) -> bool:
    for reg in registered:
        if reg["id"] == dev["id"] and (reg.get("serial") is None or reg["serial"] == dev.get("serial")):
            return True
    return False


def mi_register_drift(inventory: dict[str, Any], devices: list[dict[str, Any]], administrators: list[str],
                      admin_groups: list[str]) -> list[str]:
    """Return what the register does not cover.

    - every USB device that is neither a hub, nor a pure HID device (keyboard, mouse), nor
      registered (id, and serial where the register pins one);
    - every account in an admin group, or with uid 0, that is not a named administrator.
    """
    if not isinstance(inventory, dict) or "usb_devices" not in inventory or "accounts" not in inventory:
        raise AnsibleFilterError("terminal register: the collected inventory lacks usb_devices or accounts")
    findings = []
    for dev in inventory["usb_devices"]:
        classes = set(dev.get("interface_classes") or []) or {dev.get("device_class", "")}
        if classes <= {HUB_CLASS} or classes <= {HID_CLASS}:
            continue
        if not _registered(dev, devices):
            findings.append(
                f"unregistered USB device {dev['id']} serial {dev.get('serial') or '-'} "
                f"({dev.get('product') or 'unknown'}, interface classes {','.join(sorted(classes))}) at port {dev.get('port')}")
    named = set(administrators)
    for acc in inventory["accounts"]:
        admin_via = sorted(set(acc.get("groups", [])) & set(admin_groups))
        if acc.get("uid") == 0 and acc["name"] != "root":
            admin_via.append("uid 0")
        if admin_via and acc["name"] not in named:
            findings.append(f"account {acc['name']} holds administrative rights ({', '.join(admin_via)}) but is not a named administrator")
    return findings


class FilterModule:
    """mi-harden register filter."""

    def filters(self) -> dict[str, Any]:
        return {"mi_register_drift": mi_register_drift}
