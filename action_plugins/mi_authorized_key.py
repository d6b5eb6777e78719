"""Action mi_authorized_key: ansible.posix.authorized_key without a module run when every key is already there.

remote_access makes sure the controllers' keys are authorized for the management user, and
each administrator's keys for their account. On every converge and audit after the first,
each is a whole module run on the terminal (Python, ``ansible.module_utils`` and the
module's ``urls`` imports: about 0.45 s, docs/BENCHMARKS.md, "Session 18") that reads one
file and finds nothing to write. When it finds nothing to write, the module changes
nothing at all: it neither creates ``~/.ssh`` nor sets a mode (it does both only when it
writes).

This action reads the account (``getent passwd``) and the key file (``base64``) in one shell
command, with ``become`` as the task asks, and decides with the module's own functions
(``parsekey``, ``parsekeys``, ``parseoptions`` of the installed ansible.posix), run on the
controller the way the module's ``enforce_state`` runs them. When the module would write
nothing, the result is the module's for that case: its parameters with their defaults,
``keyfile`` and ``changed: false``.

Anything else runs ansible.posix.authorized_key unchanged: a key to add, replace or remove,
``exclusive`` with another key in the file, ``state: absent``, a key from a URL or a file,
``follow``, ``path`` (the module's result then describes the file as well), an account the
terminal does not have, a key file that is not UTF-8 text or has a carriage return, async,
or an answer it cannot read. Options: ansible.posix.authorized_key's.
"""

from __future__ import annotations

import base64
import binascii
import os
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
name: mi_authorized_key
short_description: ansible.posix.authorized_key without a module run when every key is already there
description:
  - The options and results of M(ansible.posix.authorized_key). The account and its key
    file are read in one shell command; the module's own key parsing decides on the
    controller. When the module would write nothing, its result is returned.
  - Anything else (a key to add, replace or remove, O(exclusive) with other keys in the
    file, O(state=absent), a key from a URL or a file, O(follow), O(path), async) runs
    M(ansible.posix.authorized_key) unchanged.
"""

_MARK = "@mi-authorized-key"
_BOOLS = {"manage_dir": True, "exclusive": False, "validate_certs": True, "follow": False}
_STRINGS = ("key_options", "comment")


def _module_functions() -> Any:
    """The installed ansible.posix module (its parsing functions), or None."""
    try:
        from ansible_collections.ansible.posix.plugins.modules import authorized_key
    except ImportError:
        return None
    return authorized_key


def request(args: Mapping[str, Any]) -> dict[str, Any] | None:
    """The module's parameters, with its defaults, of a task this action can answer, or None."""
    if set(args) - {"user", "key", "path", "state", *_BOOLS, *_STRINGS}:
        return None
    user, key, path = args.get("user"), args.get("key"), args.get("path")
    if not isinstance(user, str) or not user or any(c in user for c in ":\n\x00/"):
        return None
    if not isinstance(key, str) or key.startswith(("http", "file")):
        return None  # the module fetches or reads the key first
    if path is not None:
        return None  # the module's result then describes the file too (AnsibleModule.add_path_info)
    if args.get("state", "present") != "present":
        return None
    params: dict[str, Any] = {"user": user, "key": key, "path": None, "state": "present"}
    try:
        for name, default in _BOOLS.items():
            value = args.get(name)
            params[name] = default if value is None else boolean(value, strict=True)
    except TypeError:
        return None
    for name in _STRINGS:
        value = args.get(name)
        if value is not None and not isinstance(value, str):
            return None
        params[name] = value
    if params["follow"]:
        return None  # the module resolves the file's real path
    return params


def command(req: Mapping[str, Any]) -> str:
    """The account's passwd entry, then the key file in base64 (or that it is not a file)."""
    user = shlex.quote(req["user"])
    return (
        f"e=$(getent passwd -- {user} </dev/null) || {{ printf '{_MARK} no-account\\n'; exit 0; }}; "
        "h=${e#*:*:*:*:*:}; h=${h%:*}; "
        "printf '%s\\n' \"$e\"; f=\"$h/.ssh/authorized_keys\"; "
        f"if [ -f \"$f\" ]; then printf '{_MARK} file\\n'; base64 -w0 -- \"$f\" </dev/null "
        f"&& printf '\\n{_MARK} end\\n'; else printf '{_MARK} none\\n'; fi; exit 0"
    )


def judge(req: Mapping[str, Any], stdout: str, module: Any = None) -> dict[str, Any] | None:
    """The module's result when it would write nothing, or None."""
    module = module or _module_functions()
    if module is None or "\r" in stdout:
        return None
    lines = stdout.split("\n")
    if len(lines) < 3 or lines[-1] != "":
        return None
    record = lines[0].split(":")
    if len(record) != 7 or record[0] != req["user"] or not record[5].startswith("/"):
        return None
    if lines[1:] == [f"{_MARK} none", ""]:
        existing_content = ""
    elif len(lines) == 5 and lines[1] == f"{_MARK} file" and lines[3] == f"{_MARK} end":
        try:
            existing_content = base64.b64decode(lines[2], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if "\r" in existing_content:
            return None  # the module reads with universal newlines
    else:
        return None
    keyfile = os.path.join(record[5], ".ssh", "authorized_keys")
    try:
        if would_write(module, req, existing_content):
            return None
    except Exception:  # noqa: BLE001  (a key the module's parser trips over: the module's own error)
        return None
    return {**req, "keyfile": keyfile, "changed": False}


def would_write(module: Any, req: Mapping[str, Any], existing_content: str) -> bool:
    """enforce_state's decision for state present, with the module's own parsing (True when
    a key is missing or differs, when an exclusive task would remove another key, or when a
    key cannot be parsed: the module then writes, or fails)."""
    existing_keys = module.parsekeys(None, existing_content)
    new_keys = [s for s in req["key"].splitlines() if s and not s.startswith("#")]
    keys_to_exist = []
    for rank_index, new_key in enumerate(new_keys):
        parsed = module.parsekey(None, new_key, rank=rank_index)
        if not parsed:
            return True  # the module fails with "invalid key specified"
        if req["key_options"] is not None:
            parsed = (parsed[0], parsed[1], module.parseoptions(None, req["key_options"]), parsed[3], parsed[4])
        if req["comment"] is not None:
            parsed = (parsed[0], parsed[1], parsed[2], req["comment"], parsed[4])
        keys_to_exist.append(parsed[0])
        if parsed[0] not in existing_keys or parsed[:4] != existing_keys[parsed[0]][:4]:
            return True
    return bool(req["exclusive"] and frozenset(existing_keys).difference(keys_to_exist))


class ActionModule(OneCommandAction):
    """ansible.posix.authorized_key answered on the controller when every key is already there."""

    MODULE = "ansible.posix.authorized_key"
    BATCH = True  # a loop is read in one round trip (mi_one_command)

    def mi_request(self, args, task_vars):  # noqa: D102
        return request(args)

    def mi_command(self, req, task_vars):  # noqa: D102
        return command(req)

    def mi_answer(self, req, out):  # noqa: D102
        if out.get("stderr"):
            return None
        return judge(req, out.get("stdout", ""))
