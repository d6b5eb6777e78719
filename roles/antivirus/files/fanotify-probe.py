"""mi-harden (role antivirus, MI-AV-03): can this host give clamonacc fanotify events?

Opens a fanotify group of the class clamonacc uses and marks a fresh, empty directory
(so no process can be held by the mark), then releases both. Prints "ok" or the reason.
"""
import ctypes
import os
import sys
import tempfile

FAN_CLOEXEC, FAN_CLASS_CONTENT = 0x1, 0x4
FAN_MARK_ADD, FAN_OPEN, FAN_OPEN_PERM = 0x1, 0x20, 0x10000
AT_FDCWD = -100

libc = ctypes.CDLL(None, use_errno=True)
libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
prevention = len(sys.argv) > 1 and sys.argv[1] == "prevention"

fd = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
if fd < 0:
    print(f"fanotify_init refused: {os.strerror(ctypes.get_errno())}")
    sys.exit(1)
probe = tempfile.mkdtemp(prefix="mi-fanotify-")
try:
    mask = FAN_OPEN_PERM if prevention else FAN_OPEN
    if libc.fanotify_mark(fd, FAN_MARK_ADD, mask, AT_FDCWD, probe.encode()) < 0:
        kind = "permission events (FAN_OPEN_PERM)" if prevention else "open events"
        print(f"fanotify {kind} refused: {os.strerror(ctypes.get_errno())}")
        sys.exit(1)
finally:
    os.close(fd)
    os.rmdir(probe)
print("ok")
