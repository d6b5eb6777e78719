"""Removable-media filters: the device register and the USBGuard rules rendered from it.

The register (TWO-4) lists the USB devices a site or a terminal may use: IC-card readers,
keyboards of a special kind, registered USB backup disks. Each entry::

    - name: Reception IC-card reader     # required, free text
      type: ic_card_reader               # ic_card_reader | backup_disk | input | other
      id: "08e6:4433"                    # required, vendor:product, 4 hex digits each
      serial: "ABC123"                   # recommended: pins the rule to one device
      hosts: [hosp-a-t01]                # optional: only these terminals
      interfaces: ["0b:*:*"]             # optional: USB interface classes (defaults by type)
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_media
short_description: Device register selection and USBGuard rules for mi-harden
description:
  - C(mi_devices_for_host) validates the device register and returns the entries of one host.
  - C(mi_usbguard_rules) renders USBGuard rules from those entries.
  - C(mi_blocked_modules) returns the kernel modules to block, keeping USB storage loadable
    when a registered USB backup disk needs it.
"""

EXAMPLES = r"""
devices: "{{ mi_device_register | mi_devices_for_host(inventory_hostname) }}"
rules: "{{ devices | mi_usbguard_rules(allow_hid=true) }}"
modules: "{{ {'storage': [...], 'wireless': [...]} | mi_blocked_modules(devices) }}"
"""

RETURN = r"""
_value:
  description: list of device entries, the rules file text, or a list of module names.
"""

DEVICE_TYPES = ("ic_card_reader", "backup_disk", "input", "other")
# USB interface classes a device of each type presents when no `interfaces` is given.
# 0b = smart card (CCID), 08 = mass storage, 03 = HID. "other" must name its interfaces.
DEFAULT_INTERFACES = {
    "ic_card_reader": ["0b:*:*"],
    "backup_disk": ["08:*:*"],
    "input": ["03:*:*"],
}
# Modules that must stay loadable for a registered USB backup disk to work.
USB_STORAGE_MODULES = ("usb_storage", "uas")

_ID_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$")
_IFACE_RE = re.compile(r"^([0-9a-f]{2}|\*):([0-9a-f]{2}|\*):([0-9a-f]{2}|\*)$")
_UNSAFE_TEXT_RE = re.compile(r'["\\\n\r]')


def _where(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"mi_device_register[{index}]" + (f" ({name!r})" if name else "")


def validate_device(index: int, entry: Any) -> dict[str, Any]:
    """Check one register entry and return it normalised (lower-case ids, interfaces set).

    Raises AnsibleFilterError naming the entry and the field.
    """
    where = _where(index, entry)
    if not isinstance(entry, dict):
        raise AnsibleFilterError(f"{where}: must be a mapping with name, type and id, got {type(entry).__name__}")
    unknown = sorted(set(entry) - {"name", "type", "id", "serial", "hosts", "interfaces", "notes"})
    if unknown:
        raise AnsibleFilterError(f"{where}: unknown field(s) {unknown}; allowed: name, type, id, serial, hosts, interfaces, notes")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip() or _UNSAFE_TEXT_RE.search(name):
        raise AnsibleFilterError(f"{where}.name: a non-empty text without quotes, backslashes or newlines is required")
    dev_type = entry.get("type")
    if dev_type not in DEVICE_TYPES:
        raise AnsibleFilterError(f"{where}.type: {dev_type!r} is not one of {list(DEVICE_TYPES)}")
    dev_id = entry.get("id")
    if not isinstance(dev_id, str) or not _ID_RE.match(dev_id.lower()):
        raise AnsibleFilterError(
            f"{where}.id: {dev_id!r} is not a USB vendor:product id (four hex digits each, e.g. '08e6:4433')"
        )
    serial = entry.get("serial")
    if serial is not None and (not isinstance(serial, str) or not serial or _UNSAFE_TEXT_RE.search(serial)):
        raise AnsibleFilterError(f"{where}.serial: must be a non-empty text without quotes, backslashes or newlines")
    hosts = entry.get("hosts")
    if hosts is not None and (not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts)):
        raise AnsibleFilterError(f"{where}.hosts: must be a list of inventory host names")
    interfaces = entry.get("interfaces", DEFAULT_INTERFACES.get(dev_type))
    if not interfaces:
        raise AnsibleFilterError(f"{where}.interfaces: required for type 'other' (e.g. ['0b:*:*'])")
    if not isinstance(interfaces, list) or not all(isinstance(i, str) and _IFACE_RE.match(i.lower()) for i in interfaces):
        raise AnsibleFilterError(f"{where}.interfaces: {interfaces!r} must be a list of 'cc:ss:pp' USB interface classes (hex or *)")
    return {
        "name": name.strip(),
        "type": dev_type,
        "id": dev_id.lower(),
        "serial": serial,
        "hosts": hosts,
        "interfaces": [i.lower() for i in interfaces],
    }


def mi_devices_for_host(register: Any, host: str) -> list[dict[str, Any]]:
    """Validate the whole device register and return the entries that apply to ``host``.

    Every entry is validated, also those of other hosts, so a bad register fails the run
    everywhere the same way. An entry without ``hosts`` applies to every host that sees it.
    """
    if register is None:
        return []
    if not isinstance(register, list):
        raise AnsibleFilterError(f"mi_device_register: must be a list of devices, got {type(register).__name__}")
    devices = [validate_device(i, e) for i, e in enumerate(register)]
    seen: dict[tuple[str, Any], int] = {}
    for i, dev in enumerate(devices):
        key = (dev["id"], dev["serial"])
        if key in seen and dev["hosts"] is None:
            raise AnsibleFilterError(
                f"{_where(i, register[i])}: duplicates mi_device_register[{seen[key]}] (same id and serial)"
            )
        seen.setdefault(key, i)
    return [d for d in devices if d["hosts"] is None or host in d["hosts"]]


def _iface_set(interfaces: list[str]) -> str:
    return "{ " + " ".join(interfaces) + " }"


def mi_usbguard_rules(devices: list[dict[str, Any]], allow_hid: bool = True, allow_hubs: bool = True) -> str:
    """Render /etc/usbguard/rules.conf from the host's registered devices.

    Order matters (USBGuard applies the first matching rule):
    1. registered devices, pinned by id, serial and interface classes;
    2. anything with a mass-storage interface is blocked (so a composite "keyboard + stick"
       cannot ride on the HID rule);
    3. hubs and pure HID devices (keyboards, mice) are allowed;
    everything else falls to the daemon's implicit policy (block).
    """
    lines = [
        "# Managed by mi-harden (role removable_media, MI-MEDIA-03). Changes are overwritten.",
        "# Rendered from the device register (mi_device_register) of this terminal.",
    ]
    for dev in devices:
        rule = f'allow id {dev["id"]}'
        if dev.get("serial"):
            rule += f' serial "{dev["serial"]}"'
        rule += f' with-interface match-all {_iface_set(dev["interfaces"])}'
        lines.append(f'# registered {dev["type"]}: {dev["name"]}')
        lines.append(rule)
    lines.append("# no other mass-storage device, whatever else it presents")
    lines.append("block with-interface one-of { 08:*:* }")
    if allow_hubs:
        lines.append("# hubs (the keyboard and the card reader sit behind them)")
        lines.append("allow with-interface match-all { 09:*:* }")
    if allow_hid:
        lines.append("# keyboards and mice: devices whose every interface is HID")
        lines.append("allow with-interface match-all { 03:*:* }")
    return "\n".join(lines) + "\n"


def mi_blocked_modules(module_groups: dict[str, list[str]], devices: list[dict[str, Any]]) -> list[str]:
    """Return the sorted, de-duplicated module names to block.

    Module names are normalised to the kernel's underscore form. When a registered USB
    backup disk applies to the host, usb_storage and uas stay loadable: USBGuard then
    blocks every other mass-storage device individually (documented trade-off).
    """
    if not isinstance(module_groups, dict):
        raise AnsibleFilterError("removable_media module groups: must be a mapping of group name to module list")
    keep = set(USB_STORAGE_MODULES) if any(d.get("type") == "backup_disk" for d in devices or []) else set()
    modules: set[str] = set()
    for group, names in module_groups.items():
        if not isinstance(names, list) or not all(isinstance(n, str) and re.match(r"^[A-Za-z0-9_-]+$", n) for n in names):
            raise AnsibleFilterError(f"removable_media_{group}_modules: must be a list of kernel module names")
        modules.update(n.replace("-", "_") for n in names)
    return sorted(modules - keep)


class FilterModule:
    """mi-harden removable-media filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_devices_for_host": mi_devices_for_host,
            "mi_usbguard_rules": mi_usbguard_rules,
            "mi_blocked_modules": mi_blocked_modules,
        }
