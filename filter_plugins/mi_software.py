"""Software allowlist filters: the approved and denied software of the policy, and what a
terminal has installed that the policy does not approve (MI-SW-01, MI-SW-02).

The policy names packages by Debian package name or by shell-style pattern::

    software_allowlist_site: [mi-client, "mi-client-*", pcscd]   # approved
    software_allowlist_denied: [teamviewer, "transmission*", "section:games"]

A package is **approved** when its name matches an approved entry, when its priority is
one of the approved priorities (required, important, standard: the Debian base system),
when it is Essential, or when an approved package needs it (Pre-Depends, Depends or
Recommends, followed transitively, virtual packages resolved through Provides). So the
dependencies of approved software are never flagged, whatever apt marks them as (a
debootstrap system marks every package as manually installed).

A package is **denied** when its name matches a denied entry or its section is a denied
section (``section:games`` also matches ``contrib/games``). Denied wins over approved.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_software
short_description: Approved and denied software of the mi-harden policy
description:
  - C(mi_software_policy) validates the approved and denied lists (package names or
    fnmatch patterns, C(section:NAME) entries in the denylist) and the approved
    priorities, and returns one normalised policy.
  - C(mi_software_sources) names every per-site-type list and captured package set, so
    that they are all validated on every host.
  - C(mi_installed_packages) parses the output of the role's C(dpkg-query) and
    C(apt-mark showauto) commands.
  - C(mi_software_assess) tells, from the installed packages and the policy, what is
    approved, what is denied (to remove) and what is neither (drift).
  - C(mi_software_capture) reduces a reference terminal's packages to the names that
    approve them all (playbooks/capture_baseline.yml).
"""

EXAMPLES = r"""
policy: "{{ {'software_allowlist_site': ['mi-client*']} | mi_software_policy({'software_allowlist_denied': ['section:games']}) }}"
installed: "{{ dpkg_query.stdout | mi_installed_packages(showauto.stdout) }}"
assessment: "{{ installed | mi_software_assess(policy) }}"
"""

RETURN = r"""
_value:
  description: >-
    mi_software_policy: dict approve, deny, deny_sections, priorities.
    mi_installed_packages: list of dicts name, section, priority, essential, auto, needs, provides.
    mi_software_assess: dict approved (names), denied (name, reason, required_by),
    remove (denied names safe to remove), conflicts (messages), unapproved
    (name, section, auto, required_by), messages (one line per unapproved package).
"""

# The dpkg-query format the role uses; mi_installed_packages parses exactly these fields.
DPKG_QUERY_FORMAT = (
    r"${db:Status-Abbrev}\t${Package}\t${Section}\t${Priority}\t${Essential}\t"
    r"${Pre-Depends}\t${Depends}\t${Recommends}\t${Provides}\n"
)
PRIORITIES = ("required", "important", "standard")
# Debian policy 5.6.1: lower case letters, digits, + - . ; two characters at least,
# starting with an alphanumeric.
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
# A pattern: the same characters plus fnmatch's * ? [ ] and ! (inside a bracket).
_PATTERN_CHARS_RE = re.compile(r"^[a-z0-9+.\-*?\[\]!]+$")
_SECTION_RE = re.compile(r"^[a-z0-9][a-z0-9+._-]*$")
# Installed-ish dpkg states (second letter of db:Status-Abbrev): installed, unpacked,
# half-configured, half-installed, triggers-awaited, triggers-pending. Not: n, c.
_PRESENT_STATES = frozenset("iUFhWt")


def _is_pattern(entry: str) -> bool:
    return any(c in entry for c in "*?[")


def _check_entry(where: str, entry: Any, allow_section: bool) -> str:
    """Return the entry if it is a valid package name, pattern (or section entry)."""
    if not isinstance(entry, str):
        raise AnsibleFilterError(f"{where}: {entry!r} is not a package name or pattern (a string is required)")
    if allow_section and entry.startswith("section:"):
        section = entry.split(":", 1)[1]
        if not _SECTION_RE.match(section):
            raise AnsibleFilterError(f"{where}: {entry!r} does not name a Debian section (e.g. 'section:games')")
        return entry
    if not _is_pattern(entry):
        if not _NAME_RE.match(entry):
            raise AnsibleFilterError(
                f"{where}: {entry!r} is not a valid Debian package name (lower-case letters, digits, "
                "'+', '-', '.'; two characters at least, starting with a letter or digit) nor a pattern"
            )
        return entry
    if not _PATTERN_CHARS_RE.match(entry) or entry.count("[") != entry.count("]"):
        raise AnsibleFilterError(
            f"{where}: {entry!r} is not a valid package pattern (package-name characters and fnmatch's * ? [...])"
        )
    if not re.search(r"[a-z0-9]", entry):
        raise AnsibleFilterError(f"{where}: {entry!r} matches every package; name the packages or a prefix")
    if not re.match(r"^[a-z0-9\[]", entry):
        raise AnsibleFilterError(
            f"{where}: {entry!r} must start with a letter or digit (or a bracket), not a wildcard, "
            "so that it cannot match unrelated packages"
        )
    return entry


def _check_sources(sources: Any, what: str, allow_section: bool) -> list[tuple[str, str]]:
    """Validate a mapping {variable name: list of entries}; return (entry, where) pairs."""
    if not isinstance(sources, dict):
        raise AnsibleFilterError(f"{what}: must be a mapping of variable name to list of packages")
    pairs: list[tuple[str, str]] = []
    for var, entries in sources.items():
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise AnsibleFilterError(f"{var}: must be a list of package names or patterns, got {type(entries).__name__}")
        pairs.extend((_check_entry(f"{var}[{i}]", e, allow_section), f"{var}[{i}]") for i, e in enumerate(entries))
    return pairs


def mi_software_policy(approved: Any, denied: Any, priorities: Any = list(PRIORITIES)) -> dict[str, Any]:
    """Validate the approved and denied lists and return one normalised policy.

    ``approved`` and ``denied`` map a variable name to its list, so an error names the
    variable and the index of the bad entry (``software_allowlist_site[2]: ...``).
    A package named exactly in an approved list that a denied entry matches is a
    contradiction the policy must resolve: refused.
    """
    approve_pairs = _check_sources(approved, "approved software", allow_section=False)
    deny_pairs = _check_sources(denied, "denied software", allow_section=True)
    if not isinstance(priorities, list) or not all(p in PRIORITIES for p in priorities):
        raise AnsibleFilterError(
            f"software_allowlist_priorities: {priorities!r} must be a list of {list(PRIORITIES)} "
            "(optional and extra would approve nearly every Debian package)"
        )
    deny_names = [(e, w) for e, w in deny_pairs if not e.startswith("section:")]
    for entry, where in approve_pairs:
        if _is_pattern(entry):
            continue
        for pattern, dwhere in deny_names:
            if fnmatchcase(entry, pattern):
                raise AnsibleFilterError(
                    f"{where}: {entry!r} is approved but {dwhere} ({pattern!r}) denies it; remove one of them"
                )
    return {
        "approve": sorted({e for e, _ in approve_pairs}),
        "deny": sorted({e for e, _ in deny_names}),
        "deny_sections": sorted({e.split(":", 1)[1] for e, _ in deny_pairs if e.startswith("section:")}),
        "priorities": sorted(set(priorities), key=PRIORITIES.index),
    }


def mi_software_sources(by_site_type: Any, captured: Any) -> dict[str, list[Any]]:
    """Name every per-site-type list and every captured package set, for validation.

    Returns ``{"software_allowlist_by_site_type[hospital]": [...],
    "software_allowlist_captured[hosp-a].packages": [...]}`` so that
    mi_software_policy checks the lists of every site, not only the current host's.
    """
    if not isinstance(by_site_type, dict):
        raise AnsibleFilterError("software_allowlist_by_site_type: must be a mapping of site type to package list")
    if not isinstance(captured, dict):
        raise AnsibleFilterError("software_allowlist_captured: must be a mapping of site id to a captured package set")
    sources: dict[str, list[Any]] = {}
    for site_type, entries in by_site_type.items():
        sources[f"software_allowlist_by_site_type[{site_type}]"] = entries
    for site, record in captured.items():
        if not isinstance(record, dict) or not isinstance(record.get("packages"), list):
            raise AnsibleFilterError(
                f"software_allowlist_captured[{site}]: must be a mapping with a 'packages' list "
                "(as written by playbooks/capture_baseline.yml)"
            )
        sources[f"software_allowlist_captured[{site}].packages"] = record["packages"]
    return sources


def _relation_names(field: str) -> list[str]:
    """Package names of a Depends-like field: alternatives flattened, versions and
    architecture qualifiers dropped (``libc6 (>= 2.34), a | b:any`` -> libc6, a, b)."""
    names = []
    for alternative in re.split(r"[,|]", field or ""):
        name = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alternative).strip().split(":")[0]
        if name:
            names.append(name)
    return names


def mi_installed_packages(dpkg_query: Any, showauto: Any = "") -> list[dict[str, Any]]:
    """Parse ``dpkg-query -W -f DPKG_QUERY_FORMAT`` output and ``apt-mark showauto``.

    Packages only in config-files or not-installed state are left out. A package listed
    once per architecture is merged.
    """
    if not isinstance(dpkg_query, str) or not isinstance(showauto, str):
        raise AnsibleFilterError("mi_installed_packages: expects the dpkg-query and apt-mark outputs as text")
    auto = {line.strip().split(":")[0] for line in showauto.splitlines() if line.strip()}
    packages: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(dpkg_query.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 9:
            raise AnsibleFilterError(f"mi_installed_packages: dpkg-query line {number} has {len(fields)} fields, expected 9: {line!r}")
        status, name, section, priority, essential, pre_depends, depends, recommends, provides = fields
        if len(status) < 2 or status[1] not in _PRESENT_STATES:
            continue
        pkg = packages.setdefault(name, {
            "name": name, "section": section, "priority": priority, "essential": essential == "yes",
            "auto": name in auto, "needs": [], "provides": [],
        })
        pkg["needs"] = sorted(set(pkg["needs"]) | set(_relation_names(f"{pre_depends},{depends},{recommends}")))
        pkg["provides"] = sorted(set(pkg["provides"]) | set(_relation_names(provides)))
    return sorted(packages.values(), key=lambda p: p["name"])


def _denied_reason(pkg: dict[str, Any], policy: dict[str, Any]) -> str | None:
    section = (pkg.get("section") or "").split("/")[-1]
    if section and section in policy["deny_sections"]:
        return f"section {section}"
    for pattern in policy["deny"]:
        if fnmatchcase(pkg["name"], pattern):
            return f"denylist entry {pattern!r}"
    return None


def _graph(packages: dict[str, dict[str, Any]]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Dependency graph of the installed packages, virtual packages resolved through
    Provides: (needed_by, needs), each mapping a name to a set of names."""
    providers: dict[str, set[str]] = {}
    for pkg in packages.values():
        for virtual in [pkg["name"], *pkg["provides"]]:
            providers.setdefault(virtual, set()).add(pkg["name"])
    needed_by: dict[str, set[str]] = {name: set() for name in packages}
    for pkg in packages.values():
        for need in pkg["needs"]:
            for provider in providers.get(need, ()):
                if provider != pkg["name"]:
                    needed_by[provider].add(pkg["name"])
    needs: dict[str, set[str]] = {name: set() for name in packages}
    for name, users in needed_by.items():
        for user in users:
            needs[user].add(name)
    return needed_by, needs


def _closure(roots: set[str], needs: dict[str, set[str]]) -> set[str]:
    """Installed packages reachable from ``roots`` through ``needs`` (name -> names)."""
    reached = set(roots)
    todo = list(roots)
    while todo:
        for dependency in needs[todo.pop()]:
            if dependency not in reached:
                reached.add(dependency)
                todo.append(dependency)
    return reached


def mi_software_assess(installed: Any, policy: Any) -> dict[str, Any]:
    """Split the installed packages into approved, denied and unapproved (neither).

    Approved are the packages the policy approves by name, pattern, priority or
    Essential, and everything they need. Denied packages are listed with the reason and
    the approved packages that need them; ``remove`` holds the denied packages that can go
    without taking approved software along, with what apt installed only for them
    (auto-installed, needed by nothing that stays); ``conflicts`` explains the others. Unapproved packages carry ``required_by``:
    the unapproved packages that need them (empty for the ones installed on their own).
    """
    if not isinstance(installed, list) or not isinstance(policy, dict):
        raise AnsibleFilterError("mi_software_assess: expects the installed package list and a policy from mi_software_policy")
    packages = {p["name"]: p for p in installed}
    denied = {name: r for name, p in packages.items() if (r := _denied_reason(p, policy))}
    roots = {
        name for name, p in packages.items()
        if name not in denied and (
            p.get("essential") or p.get("priority") in policy["priorities"]
            or any(fnmatchcase(name, pattern) for pattern in policy["approve"])
        )
    }
    needed_by, needs = _graph(packages)
    approved = _closure(roots, needs) - set(denied)
    denied_list = [
        {"name": n, "reason": denied[n], "required_by": sorted(needed_by[n] & approved)}
        for n in sorted(denied)
    ]
    removable = {d["name"] for d in denied_list if not d["required_by"]}
    # What apt installed only for the denied software goes with it (auto-installed,
    # not approved, needed by nothing that stays), to a fixed point.
    leftovers: set[str] = set()
    candidates = {n for n in set(packages) - approved - set(denied) if packages[n].get("auto")}
    while True:
        gone = removable | leftovers
        more = {n for n in candidates - leftovers if needed_by[n] and needed_by[n] <= gone}
        if not more:
            break
        leftovers |= more
    rest = set(packages) - approved - set(denied) - leftovers
    unapproved = [
        {"name": name, "section": packages[name].get("section", ""), "auto": packages[name].get("auto", False),
         "required_by": sorted(needed_by[name] & rest)}
        for name in sorted(rest)
    ]
    messages = [
        f"{u['name']}: not approved ("
        + (f"needed by {', '.join(u['required_by'])}" if u["required_by"]
           else f"{'installed as a dependency' if u['auto'] else 'installed by hand'}, section {u['section'] or 'unknown'}")
        + ")"
        for u in unapproved
    ]
    conflicts = [
        f"{d['name']}: denied ({d['reason']}) but approved {', '.join(d['required_by'])} "
        "need(s) it; not removed until the policy resolves this"
        for d in denied_list if d["required_by"]
    ]
    return {
        "approved": sorted(approved),
        "denied": denied_list,
        "remove": sorted(removable | leftovers),
        "conflicts": conflicts,
        "unapproved": unapproved,
        "messages": messages,
    }


def mi_software_capture(installed: Any, policy: Any) -> dict[str, Any]:
    """The package set of a reference terminal, as few names as approve it all.

    Denied packages are left out (and returned under ``denied``). Packages of the
    approved priorities are left out too: the policy approves them anyway. Of the rest,
    the packages nothing else needs are kept, plus one name per dependency cycle nothing
    outside needs, so that approving the result (with its dependencies) approves every
    captured package.
    """
    if not isinstance(installed, list) or not isinstance(policy, dict):
        raise AnsibleFilterError("mi_software_capture: expects the installed package list and a policy from mi_software_policy")
    packages = {p["name"]: p for p in installed}
    denied = {name for name, p in packages.items() if _denied_reason(p, policy)}
    kept = {name for name, p in packages.items()
            if name not in denied and not p.get("essential") and p.get("priority") not in policy["priorities"]}
    # approved by their priority whatever the capture says; what they need comes with them
    needed_by, needs = _graph(packages)
    by_rule = {name for name, p in packages.items()
               if name not in denied and (p.get("essential") or p.get("priority") in policy["priorities"])}
    roots = {name for name in kept if not needed_by[name] - denied}
    covered = _closure(roots | by_rule, needs)
    for name in sorted(kept):
        if name not in covered:
            roots.add(name)
            covered |= _closure({name}, needs)
    return {"packages": sorted(roots), "denied": sorted(denied)}


class FilterModule:
    """mi-harden software allowlist filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_software_sources": mi_software_sources,
            "mi_software_policy": mi_software_policy,
            "mi_installed_packages": mi_installed_packages,
            "mi_software_assess": mi_software_assess,
            "mi_software_capture": mi_software_capture,
        }
