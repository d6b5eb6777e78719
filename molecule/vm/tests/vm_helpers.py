"""Helpers of the VM scenario's tests: its QMP monitor, the guest's USB devices as the
kernel sees them, and which roles playbooks/site.yml applies."""

import json
import socket
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
INSTANCE = "mi-vm"


def site_roles():
    """Role names playbooks/site.yml applies (roles: lists of its plays)."""
    plays = yaml.safe_load((ROOT / "playbooks/site.yml").read_text())
    names = set()
    for play in plays:
        for r in play.get("roles", []) or []:
            names.add(r["role"] if isinstance(r, dict) else r)
    return names


def require_role(role, what):
    """Skip, saying why, when the role that makes `what` true is not in site.yml yet."""
    if role not in site_roles():
        pytest.skip(f"{what}: role {role} is not in playbooks/site.yml yet, nothing enforces it on the VM")


class QMP:
    """A minimal client of QEMU's machine protocol (one JSON object per line)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.file = self.sock.makefile("rw")
        self.events = []
        json.loads(self.file.readline())  # greeting
        self.execute("qmp_capabilities")

    def execute(self, command, **arguments):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.file.write(json.dumps(msg) + "\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise RuntimeError(f"QMP {command} {arguments}: {reply['error']}")
            return reply["return"]

    def wait_event(self, name, device=None, timeout=30):
        """Wait for an event (for DEVICE_DELETED: of that device id, not of its children)."""
        def wanted(ev):
            return ev["event"] == name and (device is None or ev.get("data", {}).get("device") == device)

        deadline = time.time() + timeout
        while True:
            for ev in self.events:
                if wanted(ev):
                    self.events.remove(ev)
                    return ev
            if time.time() >= deadline:
                raise TimeoutError(f"no QMP event {name} {device or ''} within {timeout} s")
            self.sock.settimeout(max(0.1, deadline - time.time()))
            try:
                line = self.file.readline()
            except (TimeoutError, socket.timeout):
                continue
            if line:
                self.events.append(json.loads(line))

    def peripherals(self):
        """Ids of the devices given an id on the command line or by device_add."""
        return [p["name"] for p in self.execute("qom-list", path="/machine/peripheral")
                if p["type"].startswith("child<")]

    def unplug(self, device):
        """device_del, and wait until the device is gone."""
        self.execute("device_del", id=device)
        return self.wait_event("DEVICE_DELETED", device=device)

    def close(self):
        self.file.close()
        self.sock.close()


# Run on the guest: its USB devices from sysfs, with the block devices below each one.
_USB_SCRIPT = r"""
import glob, json, os
def rd(p, d=""):
    try:
        return open(p).read().strip()
    except OSError:
        return d
blocks = {b: os.path.realpath("/sys/block/" + b) for b in os.listdir("/sys/block")}
out = []
for dev in sorted(glob.glob("/sys/bus/usb/devices/*")):
    if not os.path.exists(dev + "/idVendor"):
        continue
    real = os.path.realpath(dev)
    out.append({
        "port": os.path.basename(dev),
        "id": rd(dev + "/idVendor") + ":" + rd(dev + "/idProduct"),
        "serial": rd(dev + "/serial"),
        "product": rd(dev + "/product"),
        "authorized": rd(dev + "/authorized"),
        "interfaces": sorted(os.path.basename(i) for i in glob.glob(dev + "/*:*")),
        "drivers": sorted({os.path.basename(os.path.realpath(d)) for d in glob.glob(dev + "/*:*/driver")}),
        "block_devices": sorted(b for b, p in blocks.items() if p.startswith(real + "/")),
    })
print(json.dumps(out))
"""


def usb_devices(host):
    """The guest's USB devices, as its kernel enumerated them."""
    return json.loads(host.check_output("python3 -c %s", _USB_SCRIPT))


def usb_block_devices(host):
    """Block devices of the guest that sit on a USB bus (a usable stick would make one)."""
    out = host.check_output(
        "for b in /sys/block/*; do case $(readlink -f $b) in */usb*) echo ${b##*/};; esac; done; true")
    return out.split()


def usbguard_devices(host):
    """`usbguard list-devices` as (target, rule text) pairs."""
    out = host.check_output("usbguard list-devices")
    rows = []
    for line in out.splitlines():
        _, _, rule = line.partition(": ")
        rows.append((rule.split(" ", 1)[0], rule))
    return rows


def wait_for(predicate, timeout=90, step=3):
    """Poll until predicate() returns a true value; return it (or the last false one)."""
    deadline = time.time() + timeout
    value = predicate()
    while not value and time.time() < deadline:
        time.sleep(step)
        value = predicate()
    return value
