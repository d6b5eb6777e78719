#!/usr/bin/env python3
"""Read-only inventory of a terminal for the register (TWO-4, ZH-SEC-AC): prints JSON.

Identity (hostname, machine-id, DMI), network interfaces (MAC), OS release, attached USB
devices (vendor:product, serial, device and interface classes) and local accounts (shell,
groups, password age, last login). Standard library only; changes nothing.
"""

import glob
import grp
import json
import os
import pwd
import socket
import struct
import time


def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return default


def os_release():
    data = {}
    for line in read("/etc/os-release").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            data[k] = v.strip('"')
    return {"pretty_name": data.get("PRETTY_NAME", ""), "version_id": data.get("VERSION_ID", "")}


def usb_devices():
    devices = []
    for dev in sorted(glob.glob("/sys/bus/usb/devices/*")):
        if not os.path.exists(os.path.join(dev, "idVendor")):
            continue
        ifaces = sorted({read(p).lower() for p in glob.glob(dev + "/*:*/bInterfaceClass")})
        devices.append({
            "port": os.path.basename(dev),
            "id": f"{read(dev + '/idVendor')}:{read(dev + '/idProduct')}".lower(),
            "serial": read(dev + "/serial") or None,
            "product": read(dev + "/product"),
            "device_class": read(dev + "/bDeviceClass").lower(),
            "interface_classes": ifaces,
            "authorized": read(dev + "/authorized", "1") == "1",
        })
    return devices


def shadow():
    out = {}
    for line in read("/etc/shadow").splitlines():
        f = line.split(":")
        if len(f) >= 5:
            out[f[0]] = {"locked": f[1].startswith(("!", "*")) or f[1] == "",
                         "last_change_days": int(f[2]) if f[2].isdigit() else None,
                         "max_days": int(f[4]) if f[4].isdigit() else None}
    return out


def last_logins():
    """uid -> epoch seconds, from /var/log/lastlog (struct lastlog: int32, 32s, 256s)."""
    logins = {}
    size = struct.calcsize("=i32s256s")
    try:
        with open("/var/log/lastlog", "rb") as fh:
            uid = 0
            while chunk := fh.read(size):
                if len(chunk) < size:
                    break
                t = struct.unpack("=i32s256s", chunk)[0]
                if t:
                    logins[uid] = t
                uid += 1
    except OSError:
        pass
    try:  # trixie: lastlog2
        import sqlite3
        con = sqlite3.connect("file:/var/lib/lastlog/lastlog2.db?mode=ro", uri=True)
        for name, t in con.execute("SELECT Name, Time FROM Lastlog2"):
            try:
                logins[pwd.getpwnam(name).pw_uid] = int(t)
            except KeyError:
                pass
    except Exception:  # noqa: BLE001 - absent database is normal
        pass
    return logins


def accounts():
    sh, last = shadow(), last_logins()
    members = {}
    for g in grp.getgrall():
        for m in g.gr_mem:
            members.setdefault(m, set()).add(g.gr_name)
    out = []
    for p in pwd.getpwall():
        if p.pw_uid != 0 and p.pw_uid < 1000 or p.pw_name == "nobody":
            continue
        groups = set(members.get(p.pw_name, set()))
        try:
            groups.add(grp.getgrgid(p.pw_gid).gr_name)
        except KeyError:
            pass
        s = sh.get(p.pw_name, {})
        out.append({
            "name": p.pw_name, "uid": p.pw_uid, "shell": p.pw_shell, "groups": sorted(groups),
            "password_locked": s.get("locked"),
            "password_age_days": (int(time.time() // 86400) - s["last_change_days"]) if s.get("last_change_days") is not None else None,
            "password_max_days": s.get("max_days"),
            "last_login": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last[p.pw_uid])) if p.pw_uid in last else None,
        })
    return out


def main():
    dmi = {k: read(f"/sys/class/dmi/id/{k}") or None for k in ("sys_vendor", "product_name", "product_serial", "board_serial")}
    nics = {os.path.basename(n): read(n + "/address") for n in sorted(glob.glob("/sys/class/net/*")) if not n.endswith("/lo")}
    print(json.dumps({
        "hostname": socket.gethostname(),
        "machine_id": read("/etc/machine-id"),
        "dmi": dmi,
        "mac_addresses": nics,
        "os": os_release(),
        "usb_devices": usb_devices(),
        "usb_bus": os.path.isdir("/sys/bus/usb/devices"),
        "accounts": accounts(),
    }))


if __name__ == "__main__":
    main()
