"""Action mi_stat: ansible.builtin.stat without ansible's module machinery on the terminal.

The roles ask whether files and directories exist (about 45 stat runs per audit). The stat
module's own work is one ``lstat`` or ``stat`` call, yet every run starts Python on the
terminal and imports ``ansible.module_utils`` (about 0.2 CPU s, docs/BENCHMARKS.md,
"Session 7"). This action runs the module's computation, ``format_output`` and what
``main`` adds (permissions for the running user, the link's source and target, the owner's
and group's names, the checksum), in a bare ``python3 -I -S`` of the terminal's interpreter
(about 20 ms: standard library only) and returns the module's own ``stat`` result.

It answers when the task turns off ``get_mime`` and ``get_attributes`` (the module would run
``file`` and ``lsattr``; the roles need neither); anything else, async, or a failure other
than "no such file" (the module says why in its own words) runs ansible.builtin.stat as it
is. Options: ansible.builtin.stat's.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping

from ansible.module_utils.parsing.convert_bool import boolean

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)  # ansible loads plugins by path: mi_one_command.py is beside this file
from mi_one_command import OneCommandAction  # noqa: E402

DOCUMENTATION = r"""
name: mi_stat
short_description: ansible.builtin.stat without ansible's module machinery on the terminal
description:
  - The options and results of M(ansible.builtin.stat). With O(get_mime=false) and
    O(get_attributes=false) the stat module's computation runs in a bare Python of the
    terminal (standard library only) instead of a module run; the result is the module's.
  - Every other case runs M(ansible.builtin.stat) unchanged.
"""

_JUDGED = frozenset(("path", "dest", "name", "follow", "get_checksum", "get_mime", "mime", "mime_type",
                     "mime-type", "get_attributes", "attr", "attributes", "checksum_algorithm", "checksum",
                     "checksum_algo"))
_ALGORITHMS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")

# ansible.modules.stat's format_output and main, for one path, without AnsibleModule:
# argv[1] is JSON [path, follow, algorithm or null]; prints {"stat": ...} or {"error": ...}
SCRIPT = r"""
import grp, hashlib, json, os, pwd, stat, sys
path, follow, algorithm = json.loads(sys.argv[1])
b = os.fsencode(path)
try:
    st = os.stat(b) if follow else os.lstat(b)
except FileNotFoundError:
    print(json.dumps({"stat": {"exists": False}})); sys.exit(0)
except OSError as e:
    print(json.dumps({"error": str(e)})); sys.exit(0)
m = st.st_mode
o = dict(exists=True, path=path, mode="%04o" % stat.S_IMODE(m), isdir=stat.S_ISDIR(m), ischr=stat.S_ISCHR(m),
         isblk=stat.S_ISBLK(m), isreg=stat.S_ISREG(m), isfifo=stat.S_ISFIFO(m), islnk=stat.S_ISLNK(m),
         issock=stat.S_ISSOCK(m), uid=st.st_uid, gid=st.st_gid, size=st.st_size, inode=st.st_ino, dev=st.st_dev,
         nlink=st.st_nlink, atime=st.st_atime, mtime=st.st_mtime, ctime=st.st_ctime,
         wusr=bool(m & stat.S_IWUSR), rusr=bool(m & stat.S_IRUSR), xusr=bool(m & stat.S_IXUSR),
         wgrp=bool(m & stat.S_IWGRP), rgrp=bool(m & stat.S_IRGRP), xgrp=bool(m & stat.S_IXGRP),
         woth=bool(m & stat.S_IWOTH), roth=bool(m & stat.S_IROTH), xoth=bool(m & stat.S_IXOTH),
         isuid=bool(m & stat.S_ISUID), isgid=bool(m & stat.S_ISGID))
for a, k in (("st_blocks", "blocks"), ("st_blksize", "block_size"), ("st_rdev", "device_type"), ("st_flags", "flags"),
             ("st_gen", "generation"), ("st_birthtime", "birthtime"), ("st_ftype", "file_type"), ("st_attrs", "attrs"),
             ("st_obtype", "object_type"), ("st_rsize", "real_size"), ("st_creator", "creator"),
             ("st_type", "file_type")):
    if hasattr(st, a):
        o[k] = getattr(st, a)
for k, f in (("readable", os.R_OK), ("writeable", os.W_OK), ("executable", os.X_OK)):
    o[k] = os.access(b, f)
if o["islnk"]:
    o["lnk_source"] = os.path.realpath(path)
    o["lnk_target"] = os.readlink(path)
try:
    o["pw_name"] = pwd.getpwuid(st.st_uid).pw_name
except (TypeError, KeyError):
    pass
try:
    o["gr_name"] = grp.getgrgid(st.st_gid).gr_name
except (KeyError, ValueError, OverflowError):
    pass
if o["isreg"] and o["readable"] and algorithm:
    h = hashlib.new(algorithm)
    with open(b, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            h.update(block)
    o["checksum"] = h.hexdigest()
print(json.dumps({"stat": o}))
"""


def request(args: Mapping[str, Any]) -> list[Any] | None:
    """[path, follow, checksum algorithm or None] for SCRIPT, or None when the module must run."""
    if any(v is not None for k, v in args.items() if k not in _JUDGED):
        return None
    path = args.get("path", args.get("dest", args.get("name")))
    if not isinstance(path, str) or not path.startswith("/") or "$" in path:
        return None  # ~user, variables and relative paths: the module's own expansion
    flags = {}
    for key, aliases, default in (("get_mime", ("get_mime", "mime", "mime_type", "mime-type"), True),
                                  ("get_attributes", ("get_attributes", "attr", "attributes"), True),
                                  ("get_checksum", ("get_checksum",), True), ("follow", ("follow",), False)):
        values = [args[a] for a in aliases if args.get(a) is not None]
        try:
            flags[key] = boolean(values[0], strict=True) if values else default
        except TypeError:
            return None  # the module says what is wrong with it
    if flags["get_mime"] or flags["get_attributes"]:
        return None  # file(1) and lsattr: the module's own parsing of their output
    algorithm = args.get("checksum_algorithm", args.get("checksum", args.get("checksum_algo", "sha1")))
    if algorithm not in _ALGORITHMS:
        return None
    return [path, flags["follow"], algorithm if flags["get_checksum"] else None]


def command(python: str, req: list[Any]) -> str:
    """The shell command that runs SCRIPT for ``req`` with the terminal's ``python``."""
    return f"{shlex.quote(python)} -I -S -c {shlex.quote(SCRIPT)} {shlex.quote(json.dumps(req))}"


def judge(stdout: str) -> dict[str, Any] | None:
    """The module's result from SCRIPT's output, or None when the module must run."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("stat"), dict):
        return None
    return {"changed": False, "stat": answer["stat"]}


class ActionModule(OneCommandAction):
    """ansible.builtin.stat computed by a bare Python of the terminal when the options allow."""

    MODULE = "ansible.legacy.stat"
    BATCH = True  # a loop is read in one round trip (mi_one_command)

    def mi_request(self, args, task_vars):  # noqa: D102
        return request(args)

    def mi_command(self, req, task_vars):  # noqa: D102
        python = self.mi_python(task_vars)
        return command(python, req) if python else None

    def mi_answer(self, req, out):  # noqa: D102
        return judge(out.get("stdout", ""))
