"""Action mi_getent: ansible.builtin.getent without a module run on the terminal.

The roles read the account and group databases (accounts: passwd, group and shadow from
files; base_os and remote_access: groups and users), each a whole module run on the terminal
(Python and ``ansible.module_utils``) around one ``getent`` call. This action runs the same
``getent DATABASE [KEY] [-s SERVICE]`` in one shell command (with ``become`` as the task
asks) and builds the module's result from its output exactly as the module does (records
split on ``split``, by default ``:`` for passwd, shadow, group and gshadow and white space
otherwise; a key seen twice gets a list): ``ansible_facts.getent_DATABASE``, and for a
missing key with ``fail_key: false`` the module's message and ``None``.

Any other exit status of getent (unknown database, missing key with ``fail_key``,
enumeration not supported), async, a ``getent`` not found, or an unexpected output run
ansible.builtin.getent unchanged. Options: ansible.builtin.getent's.
"""

from __future__ import annotations

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
name: mi_getent
short_description: ansible.builtin.getent without a module run on the terminal
description:
  - The options and results of M(ansible.builtin.getent). The same getent call runs in one
    shell command and its output is read as the module reads it.
  - Any failure of getent and async run M(ansible.builtin.getent) unchanged.
"""

_MARK = "@mi-getent-rc"
_COLON = ("passwd", "shadow", "group", "gshadow")
_MISSING_KEY = "One or more supplied key could not be found in the database."


def request(args: Mapping[str, Any]) -> dict[str, Any] | None:
    """{database, key, service, split, fail_key} as the module reads them, or None."""
    if any(v is not None for k, v in args.items() if k not in ("database", "key", "service", "split", "fail_key")):
        return None
    values = {k: args.get(k) for k in ("database", "key", "service", "split")}
    if not isinstance(values["database"], str) or not values["database"]:
        return None
    if any(v is not None and (not isinstance(v, str) or "\x00" in v) for v in values.values()):
        return None
    try:
        fail_key = boolean(args["fail_key"], strict=True) if args.get("fail_key") is not None else True
    except TypeError:
        return None
    if values["split"] is None and values["database"] in _COLON:
        values["split"] = ":"
    return {**values, "fail_key": fail_key}


def command(req: Mapping[str, Any]) -> str:
    """The module's getent call, its exit status on a last line of its own."""
    argv = ["getent", req["database"]] + ([req["key"]] if req["key"] is not None else [])
    argv += ["-s", req["service"]] if req["service"] is not None else []
    return f"{shlex.join(argv)} </dev/null; printf '\\n{_MARK} %s\\n' \"$?\"; exit 0"


def judge(req: Mapping[str, Any], stdout: str) -> dict[str, Any] | None:
    """The module's result from ``command``'s output, or None when the module must answer."""
    cut = stdout.rfind(f"\n{_MARK} ")
    if cut < 0:
        return None
    rc_text = stdout[cut + len(_MARK) + 2:].strip()
    if not rc_text.isdigit() or "\r" in stdout:
        return None
    rc, out = int(rc_text), stdout[:cut]
    dbtree = f"getent_{req['database']}"
    results: dict[str, Any] = {dbtree: {}}
    if rc == 0:
        # ansible.modules.getent, line for line
        seen: dict[str, int] = {}
        for line in out.splitlines():
            record = line.split(req["split"])
            if record[0] in seen:
                if seen[record[0]] == 1:
                    results[dbtree][record[0]] = [results[dbtree][record[0]]]
                results[dbtree][record[0]].append(record[1:])
                seen[record[0]] += 1
            else:
                results[dbtree][record[0]] = record[1:]
                seen[record[0]] = 1
        return {"changed": False, "ansible_facts": results}
    if rc == 2 and not req["fail_key"] and req["key"] is not None:
        results[dbtree][req["key"]] = None
        return {"changed": False, "ansible_facts": results, "msg": _MISSING_KEY}
    return None


class ActionModule(OneCommandAction):
    """ansible.builtin.getent answered by getent over the connection."""

    MODULE = "ansible.legacy.getent"
    BATCH = True  # a loop is read in one round trip (mi_one_command)

    def mi_request(self, args, task_vars):  # noqa: D102
        return request(args)

    def mi_command(self, req, task_vars):  # noqa: D102
        return command(req)

    def mi_answer(self, req, out):  # noqa: D102
        return judge(req, out.get("stdout", ""))
