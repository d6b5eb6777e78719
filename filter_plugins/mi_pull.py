"""Pull-mode filters: the input check of the role pull_mode (MI-AUDIT-01).

The check raises AnsibleFilterError naming the field, so a wrong setting stops the run in
the first play of site.yml, before any host changes. The drift rule of the pull run
(mi_pull_drift) lives in mi_change.py beside the other scheduled jobs' rules it shares.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mi_pull
short_description: Input check of the pull_mode role of mi-harden
description:
  - C(mi_pull_settings) checks the settings of the scheduled ansible-pull (repository URL,
    branch, signature check and signing keys, inventories, playbooks, host name, tags,
    directories) and returns them normalised; an error names the field.
options:
  _input:
    description: the settings (a dict of pull_mode_* values), or the parsed state file.
    type: raw
    required: true
"""

EXAMPLES = r"""
checked: "{{ {'pull_mode_repo_url': pull_mode_repo_url, ...} | mi_pull_settings }}"
"""

RETURN = r"""
_value:
  description: the checked settings.
"""

_SCP_RE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._/~-]+$")
_REF_RE = re.compile(r"^(?!/)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]+(?<![/.])$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_REL_RE = re.compile(r"^[A-Za-z0-9._/-]+$")


def _url(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AnsibleFilterError(f"{field}: is empty; name the site's internal git server "
                                 "(e.g. https://git.site.example/mi-harden.git)")
    value = value.strip()
    if _SCP_RE.match(value):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http", "ssh", "git", "file") or (parts.scheme != "file" and not parts.hostname):
        raise AnsibleFilterError(f"{field}: {value!r} is not a git URL (https://, ssh://, git://, file:// or user@host:path)")
    if any(c.isspace() or c in "\"'\\" for c in value):
        raise AnsibleFilterError(f"{field}: {value!r} must not contain spaces or quotes")
    return value


def _relative(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _REL_RE.match(value) or value.startswith("/"):
        raise AnsibleFilterError(f"{field}: {value!r} must be a path relative to the repository "
                                 "(letters, digits, . _ - /)")
    norm = posixpath.normpath(value)
    if norm == ".." or norm.startswith("../"):
        raise AnsibleFilterError(f"{field}: {value!r} leaves the repository")
    return norm


def _absolute(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or not _REL_RE.match(value):
        raise AnsibleFilterError(f"{field}: {value!r} must be an absolute path without spaces or quotes")
    norm = posixpath.normpath(value)
    if norm in ("/", "/var", "/var/lib", "/etc", "/usr", "/root", "/tmp"):
        raise AnsibleFilterError(f"{field}: {value!r} is a system directory; name a directory of its own")
    return norm


_PUBLIC_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_PUBLIC_END = "-----END PGP PUBLIC KEY BLOCK-----"


def _signing_keys(verify: Any, keys: Any) -> tuple[bool, list[str]]:
    """Check pull_mode_verify_commit and pull_mode_signing_keys; return them normalised."""
    if isinstance(verify, str) and verify.strip().lower() in ("true", "false"):  # ansible-core 2.14 templates as text
        verify = verify.strip().lower() == "true"
    if not isinstance(verify, bool):
        raise AnsibleFilterError(f"pull_mode_verify_commit: true or false is required, got {verify!r}")
    if keys is None:
        keys = []
    if not isinstance(keys, list):
        raise AnsibleFilterError("pull_mode_signing_keys: a list of ASCII-armoured OpenPGP public keys is required, "
                                 f"got {type(keys).__name__}")
    checked = []
    for i, key in enumerate(keys):
        field = f"pull_mode_signing_keys[{i}]"
        if not isinstance(key, str):
            raise AnsibleFilterError(f"{field}: an ASCII-armoured public key (text) is required, got {type(key).__name__}")
        if "PRIVATE KEY" in key:
            raise AnsibleFilterError(f"{field}: is a private key; give the terminals the public key only "
                                     "(gpg --armor --export FINGERPRINT)")
        text = key.strip()
        if not text.startswith(_PUBLIC_BEGIN) or not text.endswith(_PUBLIC_END):
            raise AnsibleFilterError(f"{field}: is not an ASCII-armoured OpenPGP public key (it must run from "
                                     f"{_PUBLIC_BEGIN!r} to {_PUBLIC_END!r}; gpg --armor --export FINGERPRINT)")
        checked.append(text + "\n")
    if verify and not checked:
        raise AnsibleFilterError("pull_mode_signing_keys: empty while pull_mode_verify_commit is true; list the "
                                 "public keys of those who may publish the policy (or, in a lab without signing, "
                                 "set pull_mode_verify_commit: false)")
    return verify, checked


def mi_pull_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Check the settings of the scheduled ansible-pull; return them normalised."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError(f"pull_mode settings: a dict is required, got {type(settings).__name__}")
    s = dict(settings)
    s["pull_mode_repo_url"] = _url(s.get("pull_mode_repo_url"), "pull_mode_repo_url")
    branch = s.get("pull_mode_branch")
    if not isinstance(branch, str) or not _REF_RE.match(branch) or branch.endswith(".lock"):
        raise AnsibleFilterError(f"pull_mode_branch: {branch!r} is not a git branch, tag or commit name")
    s["pull_mode_verify_commit"], s["pull_mode_signing_keys"] = _signing_keys(
        s.get("pull_mode_verify_commit", True), s.get("pull_mode_signing_keys"))
    invs = s.get("pull_mode_inventories")
    if not isinstance(invs, list) or not invs:
        raise AnsibleFilterError("pull_mode_inventories: at least one inventory path of the repository is required")
    s["pull_mode_inventories"] = [_relative(v, f"pull_mode_inventories[{i}]") for i, v in enumerate(invs)]
    for field in ("pull_mode_playbook", "pull_mode_audit_playbook"):
        path = _relative(s.get(field), field)
        if not path.endswith((".yml", ".yaml")):
            raise AnsibleFilterError(f"{field}: {path!r} is not a playbook (.yml)")
        s[field] = path
    host = s.get("pull_mode_host")
    if not isinstance(host, str) or not _HOST_RE.match(host):
        raise AnsibleFilterError(f"pull_mode_host: {host!r} is not an inventory host name")
    tags = s.get("pull_mode_tags") or []
    if not isinstance(tags, list):
        raise AnsibleFilterError(f"pull_mode_tags: a list of tags is required, got {tags!r}")
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not _TAG_RE.match(tag):
            raise AnsibleFilterError(f"pull_mode_tags[{i}]: {tag!r} is not a tag (e.g. MI-TIME-01)")
    s["pull_mode_tags"] = list(tags)
    s["pull_mode_checkout_dir"] = _absolute(s.get("pull_mode_checkout_dir"), "pull_mode_checkout_dir")
    s["pull_mode_report_spool"] = _absolute(s.get("pull_mode_report_spool"), "pull_mode_report_spool")
    if s["pull_mode_report_spool"] == s["pull_mode_checkout_dir"] or s["pull_mode_report_spool"].startswith(
            s["pull_mode_checkout_dir"] + "/"):
        raise AnsibleFilterError("pull_mode_report_spool: must not lie inside pull_mode_checkout_dir "
                                 "(the pull cleans the checkout)")
    if s.get("pull_mode_report_lang") not in ("zh", "en"):
        raise AnsibleFilterError(f"pull_mode_report_lang: {s.get('pull_mode_report_lang')!r} is not one of zh, en")
    for field in ("pull_mode_reports_kept", "pull_mode_max_age_hours"):
        value = s.get(field)
        if isinstance(value, str) and value.strip().isdigit():  # ansible-core 2.14 templates numbers as text
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AnsibleFilterError(f"{field}: a whole number of at least 1 is required, got {value!r}")
        s[field] = value
    return s


class FilterModule:
    """mi-harden pull-mode filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mi_pull_settings": mi_pull_settings,
        }
