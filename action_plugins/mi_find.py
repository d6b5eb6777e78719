"""Action mi_find: ansible.builtin.find computed by a bare Python of the terminal.

The roles list files with find (antivirus: the signature files and the quarantine; base_os:
which sensitive files exist; updates: other APT sources), each a whole module run on the
terminal (Python and ``ansible.module_utils``, about 0.25 to 0.35 s, docs/BENCHMARKS.md,
"Session 14") around a directory listing. For the options the roles use, this action runs
the find module's own loop (``os.walk`` from the shallowest directory, ``depth``, hidden
names, ``fnmatch`` patterns and excludes, the file type, ``lstat`` and the module's
``statinfo`` fields) as a standard-library script in ``python3 -I -S`` on the terminal, as
mi_stat does for stat, and returns the module's result: ``files``, ``matched``,
``examined``, ``msg`` ("All paths examined"), ``skipped_paths`` (empty), ``changed: false``.

Anything the module would warn about (a path that is not a directory, an entry it cannot
read, a name that is not UTF-8) and any other option set (``contains``, ``age``, ``size``,
``mode``, ``use_regex``, ``follow``, ``get_checksum``, ``limit``...), a path with ``~`` or
``$``, async, or an interpreter ansible would discover run ansible.builtin.find unchanged.
Options: ansible.builtin.find's.
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
name: mi_find
short_description: ansible.builtin.find computed by a bare Python of the terminal
description:
  - The options and results of M(ansible.builtin.find). With O(paths), O(patterns),
    O(excludes) (globs), O(file_type), O(hidden), O(recurse) and O(depth) only, the find
    module's loop runs in a bare Python of the terminal (standard library only) instead of
    a module run; the result is the module's.
  - Every other case, and any path the module would warn about, runs M(ansible.builtin.find)
    unchanged.
"""

_KNOWN = frozenset(("paths", "path", "name", "patterns", "pattern", "excludes", "exclude", "file_type", "hidden",
                    "recurse", "depth"))
_TYPES = ("file", "directory", "any", "link")

# ansible.modules.find's main loop and statinfo for the options above, without AnsibleModule:
# argv[1] is JSON [paths, patterns, excludes, file_type, hidden, recurse, depth];
# prints {"files": [...], "examined": N} or {"fallback": why}
SCRIPT = r"""
import fnmatch, grp, json, os, pwd, stat, sys
paths, patterns, excludes, file_type, hidden, recurse, depth = json.loads(sys.argv[1])
class Fallback(Exception):
    pass
def onerror(e):
    raise Fallback(str(e))
def pfilter(f):
    for p in patterns:
        if fnmatch.fnmatch(f, p):
            return not any(fnmatch.fnmatch(f, e) for e in excludes)
    return False
def statinfo(st):
    m = st.st_mode
    try:
        pw_name = pwd.getpwuid(st.st_uid).pw_name
    except Exception:
        pw_name = ""
    try:
        gr_name = grp.getgrgid(st.st_gid).gr_name
    except Exception:
        gr_name = ""
    return dict(mode="%04o" % stat.S_IMODE(m), isdir=stat.S_ISDIR(m), ischr=stat.S_ISCHR(m), isblk=stat.S_ISBLK(m),
                isreg=stat.S_ISREG(m), isfifo=stat.S_ISFIFO(m), islnk=stat.S_ISLNK(m), issock=stat.S_ISSOCK(m),
                uid=st.st_uid, gid=st.st_gid, size=st.st_size, inode=st.st_ino, dev=st.st_dev, nlink=st.st_nlink,
                atime=st.st_atime, mtime=st.st_mtime, ctime=st.st_ctime, gr_name=gr_name, pw_name=pw_name,
                wusr=bool(m & stat.S_IWUSR), rusr=bool(m & stat.S_IRUSR), xusr=bool(m & stat.S_IXUSR),
                wgrp=bool(m & stat.S_IWGRP), rgrp=bool(m & stat.S_IRGRP), xgrp=bool(m & stat.S_IXGRP),
                woth=bool(m & stat.S_IWOTH), roth=bool(m & stat.S_IROTH), xoth=bool(m & stat.S_IXOTH),
                isuid=bool(m & stat.S_ISUID), isgid=bool(m & stat.S_ISGID))
files, looked = [], 0
try:
    for npath in paths:
        if not os.path.isdir(npath):
            raise Fallback("not a directory: " + npath)
        for root, dirs, names in os.walk(npath, onerror=onerror, followlinks=False, topdown=True):
            looked += len(names) + len(dirs)
            for fsobj in names + dirs:
                fsname = os.path.normpath(os.path.join(root, fsobj))
                fsname.encode("utf-8")
                if depth:
                    wpath = npath.rstrip(os.path.sep) + os.path.sep
                    if fsname.count(os.path.sep) - wpath.count(os.path.sep) + 1 > depth:
                        del dirs[:]
                        continue
                if os.path.basename(fsname).startswith(".") and not hidden:
                    continue
                st = os.lstat(fsname)
                m = st.st_mode
                if file_type == "any" or (file_type == "directory" and stat.S_ISDIR(m)) or \
                        (file_type == "file" and stat.S_ISREG(m)) or (file_type == "link" and stat.S_ISLNK(m)):
                    if pfilter(fsobj):
                        r = {"path": fsname}
                        r.update(statinfo(st))
                        files.append(r)
            if not recurse:
                break
except (Fallback, OSError, UnicodeError) as e:
    print(json.dumps({"fallback": str(e)}))
    sys.exit(0)
print(json.dumps({"files": files, "examined": looked}))
"""


def _list(value: Any) -> list[str] | None:
    """A list option as the module reads it (a string is split on commas), or None."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def request(args: Mapping[str, Any]) -> list[Any] | None:
    """[paths, patterns, excludes, file_type, hidden, recurse, depth], or None: the module runs."""
    if any(v is not None for k, v in args.items() if k not in _KNOWN):
        return None
    given = [args[k] for k in ("paths", "path", "name") if args.get(k) is not None]
    if len(given) != 1 or sum(args.get(k) is not None for k in ("patterns", "pattern")) > 1 \
            or sum(args.get(k) is not None for k in ("excludes", "exclude")) > 1:
        return None
    paths = _list(given[0])
    patterns = _list(args.get("patterns", args.get("pattern")) or [])
    excludes = _list(args.get("excludes", args.get("exclude")) or [])
    if not paths or patterns is None or excludes is None:
        return None
    if any(not p.startswith("/") or "$" in p or "\x00" in p for p in paths):
        return None  # the module expands ~ and variables (type path)
    file_type = args.get("file_type") or "file"
    if file_type not in _TYPES:
        return None
    try:
        hidden = boolean(args["hidden"], strict=True) if args.get("hidden") is not None else False
        recurse = boolean(args["recurse"], strict=True) if args.get("recurse") is not None else False
        depth = int(args["depth"]) if args.get("depth") is not None else None
    except (TypeError, ValueError):
        return None
    return [paths, patterns or ["*"], excludes, file_type, hidden, recurse, depth]


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
    if not isinstance(answer, dict) or not isinstance(answer.get("files"), list) \
            or not isinstance(answer.get("examined"), int):
        return None
    return {"files": answer["files"], "changed": False, "msg": "All paths examined",
            "matched": len(answer["files"]), "examined": answer["examined"], "skipped_paths": {}}


class ActionModule(OneCommandAction):
    """ansible.builtin.find computed by a bare Python of the terminal when the options allow."""

    MODULE = "ansible.legacy.find"
    BATCH = True  # a loop is read in one round trip (mi_one_command)

    def mi_request(self, args, task_vars):  # noqa: D102
        return request(args)

    def mi_command(self, req, task_vars):  # noqa: D102
        python = self.mi_python(task_vars)
        return command(python, req) if python else None

    def mi_answer(self, req, out):  # noqa: D102
        return judge(out.get("stdout", ""))
