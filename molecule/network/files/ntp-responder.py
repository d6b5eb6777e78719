#!/usr/bin/python3
"""A tiny SNTP server for the test network: answers every client request with the time."""
import socket
import struct
import time

NTP_DELTA = 2208988800  # 1900-01-01 -> 1970-01-01

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", 123))
while True:
    data, peer = sock.recvfrom(512)
    if len(data) < 48:
        continue
    now = time.time() + NTP_DELTA
    secs, frac = int(now), int((now % 1) * 2**32)
    # LI=0, VN=4, mode=4 (server), stratum 2; originate = client's transmit timestamp
    reply = struct.pack("!BBbb11I", 0x24, 2, 6, -20, 0, 0, 0x7F000001,
                        secs, frac, *struct.unpack("!II", data[40:48]), secs, frac, secs, frac)
    sock.sendto(reply, peer)
