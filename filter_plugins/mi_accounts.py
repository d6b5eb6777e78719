"""Account filters: password policy, the people of the policy, and the plan for one host.

The policy names the people who use a terminal, each with a tier (ZH-YA-TIER, GZ-2)::

    - name: wangf                 # required, a Linux user name
      full_name: 王芳             # recommended
      tier: administrator         # administrator (admin group, sudo) | operator (no rights)
      groups: [lpadmin]           # optional extra groups (never a privileged one)
      initial_password_hash: "$6$..."   # optional, from a vault; must be changed at first login

``mi_accounts_plan`` compares them with the local account databases (getent, files only)
and returns what the role changes; it refuses, before any change, a plan that would leave
no working administrative login.
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_accounts
short_description: Password policy, people and account plan for mi-harden
description:
  - C(mi_password_policy) checks the password, aging, lockout and idle settings.
  - C(mi_account_people) checks the people of the policy and returns them normalised.
  - C(mi_accounts_plan) works out, from the people and the host's account databases, the
    accounts to create, the privileged-group members to remove, the aging to apply, the
    system and shared accounts to shut, and refuses a plan that leaves no admin login.
"""

EXAMPLES = r"""
policy: "{{ {'accounts_password_min_length': 12, ...} | mi_password_policy }}"
people: "{{ accounts_people | mi_account_people }}"
plan: "{{ people | mi_accounts_plan(host) }}"
"""

RETURN = r"""
_value:
  description: the checked settings, the list of people, or the plan (a mapping).
"""

TIERS = ("administrator", "operator")
PERSON_FIELDS = {"name", "full_name", "tier", "groups", "initial_password_hash", "state"}
# Fields other roles read from the same entries (remote_access: SSH keys).
FOREIGN_PREFIXES = ("ssh_",)
MIN_LENGTH_FLOOR = 8  # GZ-C4: "preferably more than 8 characters"
NOLOGIN_SHELLS = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "")
# A shell that cannot give a session (Debian's `sync` user runs /bin/sync and exits).
HARMLESS_SHELLS = ("/bin/sync",)
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_HASH_RE = re.compile(r"^\$(1|5|6|y|gy|7|2[abxy]?)\$[./A-Za-z0-9$,=+-]+$")

# (variable, minimum, maximum or None)
_INT_RULES: tuple[tuple[str, int, int | None], ...] = (
    ("accounts_password_min_length", MIN_LENGTH_FLOOR, 128),
    ("accounts_password_min_classes", 1, 4),
    ("accounts_password_max_repeat", 0, None),
    ("accounts_password_difok", 0, None),
    ("accounts_password_retry", 1, 10),
    ("accounts_password_max_days", 1, 99999),
    ("accounts_password_min_days", 0, 99999),
    ("accounts_password_warn_days", 0, 99999),
    ("accounts_password_remember", 1, 400),
    ("accounts_lockout_deny", 1, 100),
    ("accounts_lockout_unlock_time", 0, None),
    ("accounts_lockout_fail_interval", 1, None),
    ("accounts_idle_timeout_seconds", 1, None),
)


def mi_password_policy(settings: Any) -> dict[str, Any]:
    """Check the password, aging, lockout and idle settings; return them unchanged.

    ``settings`` maps the role's variable names to their values, so every error names the
    variable to fix. Missing keys are not checked (the role passes them all).
    """
    if not isinstance(settings, dict):
        raise AnsibleFilterError("accounts password settings: must be a mapping of variable name to value")
    for field, low, high in _INT_RULES:
        if field not in settings:
            continue
        value = settings[field]
        if isinstance(value, bool) or not isinstance(value, int):
            raise AnsibleFilterError(f"{field}: {value!r} is not a whole number")
        if value < low or (high is not None and value > high):
            limit = f"between {low} and {high}" if high is not None else f"at least {low}"
            reason = " (GZ-C4: the floor is 8 characters)" if field == "accounts_password_min_length" else ""
            raise AnsibleFilterError(f"{field}: {value} must be {limit}{reason}")
    max_days, min_days = settings.get("accounts_password_max_days"), settings.get("accounts_password_min_days")
    if isinstance(max_days, int) and isinstance(min_days, int) and min_days >= max_days:
        raise AnsibleFilterError(
            f"accounts_password_min_days: {min_days} must be below accounts_password_max_days ({max_days})"
        )
    warn = settings.get("accounts_password_warn_days")
    if isinstance(max_days, int) and isinstance(warn, int) and warn >= max_days:
        raise AnsibleFilterError(
            f"accounts_password_warn_days: {warn} must be below accounts_password_max_days ({max_days})"
        )
    return settings


def _person_where(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"accounts_people[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")


def _user_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise AnsibleFilterError(
            f"{field}: {value!r} is not a user name (lower case letters, digits, '_' or '-', "
            "starting with a letter or '_', at most 32 characters)"
        )
    return value


def validate_person(index: int, entry: Any) -> dict[str, Any]:
    """Check one person of the policy and return it normalised. Errors name the field."""
    where = _person_where(index, entry)
    if not isinstance(entry, dict):
        raise AnsibleFilterError(f"{where}: must be a mapping with name and tier, got {type(entry).__name__}")
    unknown = sorted(k for k in set(entry) - PERSON_FIELDS if not str(k).startswith(FOREIGN_PREFIXES))
    if unknown:
        raise AnsibleFilterError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(PERSON_FIELDS)} and ssh_*")
    name = _user_name(entry.get("name"), f"{where}.name")
    if name == "root":
        raise AnsibleFilterError(f"{where}.name: root is not a personal account")
    tier = entry.get("tier")
    if tier not in TIERS:
        raise AnsibleFilterError(f"{where}.tier: {tier!r} is not a known tier; one of {list(TIERS)}")
    full_name = entry.get("full_name", "")
    if not isinstance(full_name, str) or re.search(r"[:\n\r]", full_name):
        raise AnsibleFilterError(f"{where}.full_name: must be a text without ':' or newlines")
    groups = entry.get("groups", [])
    if not isinstance(groups, list):
        raise AnsibleFilterError(f"{where}.groups: must be a list of group names")
    for g in groups:
        _user_name(g, f"{where}.groups")
    pw_hash = entry.get("initial_password_hash")
    if pw_hash is not None and (not isinstance(pw_hash, str) or not _HASH_RE.match(pw_hash)):
        raise AnsibleFilterError(
            f"{where}.initial_password_hash: must be a crypt(3) hash such as '$6$...' or '$y$...', never a clear text"
        )
    state = entry.get("state", "present")
    if state not in ("present", "absent"):
        raise AnsibleFilterError(f"{where}.state: {state!r} is not one of ['present', 'absent']")
    return {
        "name": name,
        "full_name": full_name,
        "tier": tier,
        "groups": list(groups),
        "initial_password_hash": pw_hash,
        "state": state,
    }


def mi_account_people(people: Any) -> list[dict[str, Any]]:
    """Validate the people of the policy (names unique) and return them normalised."""
    if people is None:
        return []
    if not isinstance(people, list):
        raise AnsibleFilterError(f"accounts_people: must be a list of people, got {type(people).__name__}")
    result = [validate_person(i, e) for i, e in enumerate(people)]
    seen: dict[str, int] = {}
    for i, person in enumerate(result):
        if person["name"] in seen:
            raise AnsibleFilterError(
                f"{_person_where(i, people[i])}.name: also at accounts_people[{seen[person['name']]}]; "
                "a person has one tier"
            )
        seen[person["name"]] = i
    return result


def _int(value: Any, default: int = -1) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _interactive(shell: str) -> bool:
    return shell not in NOLOGIN_SHELLS and shell not in HARMLESS_SHELLS


def _usable_password(field: str) -> bool:
    """True when the shadow password field lets someone log in (a hash, or empty)."""
    return not field.startswith(("!", "*"))


def mi_accounts_plan(people: list[dict[str, Any]], host: dict[str, Any]) -> dict[str, Any]:
    """Work out the account changes for one host from the people and its account databases.

    ``host`` holds ``passwd``, ``group`` and ``shadow`` (as ansible.builtin.getent returns
    them: name -> list of fields), the role settings ``admin_group``, ``privileged_groups``,
    ``exempt_group``, ``management_user``, ``break_glass_user``, ``shared_accounts``,
    ``system_login_allowed``, ``uid_min``, ``uid_max``, ``aging`` ({max, min, warn} or
    None), ``prune`` (remove unnamed members of privileged groups).

    Returns a mapping with ``present`` (people to keep), ``absent``, ``create`` (names not
    on the host yet), ``group_changes`` ([{name, groups, remove}]: full supplementary list
    to set), ``exempt_members``, ``exempt_add`` (those of them not yet listed as members of
    the exempt group: the ones the role must add), ``aging`` ([{name, max, min, warn}]),
    ``nologin``, ``lock``, and ``drift`` (control id -> messages).

    Raises AnsibleFilterError naming the field when the plan would lock the operator out.
    """
    passwd: dict[str, list[str]] = host.get("passwd") or {}
    group_db: dict[str, list[str]] = host.get("group") or {}
    shadow: dict[str, list[str]] = host.get("shadow") or {}
    admin_group = host["admin_group"]
    mgmt = _user_name(host["management_user"], "accounts_management_user")
    glass = _user_name(host["break_glass_user"], "accounts_break_glass_user")
    uid_min, uid_max = int(host.get("uid_min", 1000)), int(host.get("uid_max", 60000))
    shared = list(host.get("shared_accounts") or [])
    for i, name in enumerate(shared):
        _user_name(name, f"accounts_shared_accounts[{i}]")
    allowed_login = set(host.get("system_login_allowed") or []) | {"root"}

    present = [p for p in people if p["state"] == "present"]
    absent = [p["name"] for p in people if p["state"] == "absent"]
    named = {p["name"] for p in present}
    admins = {p["name"] for p in present if p["tier"] == "administrator"}
    protected = {mgmt, glass}

    # Lockout safety first: nothing here may shut the two accounts that must stay usable.
    for field, user in (("accounts_management_user", mgmt), ("accounts_break_glass_user", glass)):
        if user not in passwd and user not in named:
            raise AnsibleFilterError(
                f"{field}: account {user!r} does not exist on this host and the policy does not create it"
            )
        if user in shared:
            raise AnsibleFilterError(f"{field}: {user!r} is also in accounts_shared_accounts, which would shut it")
        if user in absent:
            raise AnsibleFilterError(f"{field}: {user!r} is listed in accounts_people with state absent")
        if user in named and user != "root" and user not in admins:
            raise AnsibleFilterError(f"{field}: {user!r} is in accounts_people as an operator; it must be an administrator")
    for name in shared:
        if name in named:
            raise AnsibleFilterError(f"accounts_shared_accounts: {name!r} is also a person of accounts_people")

    # Who may sit in each privileged group: named administrators and the two protected
    # accounts (root holds its rights without any group).
    admin_members = admins | {u for u in protected if u != "root"}
    allowed: dict[str, set[str]] = {g: admin_members for g in host.get("privileged_groups") or []}
    allowed[admin_group] = admin_members
    exempt_group = host.get("exempt_group")
    exempt_members = sorted(u for u in protected if u != "root")
    if exempt_group:
        allowed[exempt_group] = set(exempt_members)

    def members(group: str) -> set[str]:
        fields = group_db.get(group)
        return {m for m in fields[2].split(",") if m} if fields and len(fields) > 2 else set()

    supplementary: dict[str, set[str]] = {}
    for group, fields in group_db.items():
        for m in (fields[2].split(",") if len(fields) > 2 else []):
            if m:
                supplementary.setdefault(m, set()).add(group)

    drift: dict[str, list[str]] = {"MI-ACC-05": [], "MI-ACC-06": []}
    removals: dict[str, set[str]] = {}
    for group, ok in sorted(allowed.items()):
        for m in sorted(members(group) - ok):
            if host.get("prune", True):
                removals.setdefault(m, set()).add(group)
            drift["MI-ACC-05"].append(f"{m} is in privileged group {group} but the policy does not name it an administrator")
    for p in present:
        bad = set(p["groups"]) & set(allowed)
        if bad:
            raise AnsibleFilterError(
                f"accounts_people ({p['name']!r}).groups: {sorted(bad)} are privileged; "
                "administrative rights come from tier: administrator only"
            )
    group_changes = [
        {"name": user, "groups": sorted(supplementary.get(user, set()) - groups), "remove": sorted(groups)}
        for user, groups in sorted(removals.items())
        if user in passwd and user not in absent
    ]

    # Human accounts (UID_MIN..UID_MAX) get the aging values; the protected ones never do.
    aging = host.get("aging")
    aging_changes = []
    for name, fields in sorted(passwd.items()):
        uid = _int(fields[1]) if len(fields) > 1 else -1
        if not uid_min <= uid <= uid_max or name in protected or name in shared or aging is None:
            continue
        sh = shadow.get(name)
        current = (_int(sh[3]), _int(sh[2]), _int(sh[4])) if sh and len(sh) > 4 else None
        if current != (aging["max"], aging["min"], aging["warn"]):
            aging_changes.append({"name": name, **aging})
        if named and name not in named and _interactive(fields[5] if len(fields) > 5 else ""):
            drift["MI-ACC-06"].append(f"{name} is a local login account the policy does not name (accounts_people)")

    # System accounts (UID < UID_MIN, not root) and shared accounts: no shell, no password.
    nologin, lock = [], []
    for name, fields in sorted(passwd.items()):
        uid = _int(fields[1]) if len(fields) > 1 else -1
        system = 0 < uid < uid_min or uid > uid_max
        if not (system or name in shared) or name in protected or name in allowed_login - {"root"} or name == "root":
            continue
        if _interactive(fields[5] if len(fields) > 5 else ""):
            nologin.append(name)
        sh = shadow.get(name)
        if sh and _usable_password(sh[0]):
            lock.append(name)

    # The plan must leave a working administrative login: the management user or the
    # break-glass account, with a shell, and root or in the admin group afterwards.
    def works(user: str) -> bool:
        fields = passwd.get(user)
        if fields is None:
            return user in admins
        return _interactive(fields[5] if len(fields) > 5 else "") and (
            _int(fields[1]) == 0 or user in admin_members
        )

    if not any(works(u) for u in (mgmt, glass)):
        raise AnsibleFilterError(
            f"accounts_management_user / accounts_break_glass_user: neither {mgmt!r} nor {glass!r} would keep an "
            "interactive shell with administrative rights; refusing to change anything"
        )
    glass_shadow = shadow.get(glass)
    if glass_shadow and not _usable_password(glass_shadow[0]):
        drift["MI-ACC-05"].append(
            f"break-glass account {glass} has no usable password: it cannot log in on the console in an emergency"
        )

    return {
        "present": present,
        "absent": [n for n in absent if n in passwd],
        "create": [p["name"] for p in present if p["name"] not in passwd],
        "admins": sorted(admins),
        "group_changes": group_changes,
        "exempt_members": exempt_members,
        # a member by primary group only is not listed: ansible.builtin.user then runs usermod
        # (it compares supplementary groups), so the plan leaves such a user to it as well
        "exempt_add": [u for u in exempt_members if u not in members(exempt_group)] if exempt_group else [],
        "aging": aging_changes,
        "nologin": nologin,
        "lock": lock,
        "drift": drift,
    }


class FilterModule:
    """mi-harden account filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_password_policy": mi_password_policy,
            "mi_account_people": mi_account_people,
            "mi_accounts_plan": mi_accounts_plan,
        }
