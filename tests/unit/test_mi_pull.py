"""Filters of filter_plugins/mi_pull.py: input check and drift rule of the pull_mode role."""

import pytest
from ansible.errors import AnsibleFilterError

from mi_change import mi_pull_drift
from mi_pull import mi_pull_settings

NOW = 1_800_000_000.0
KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n-----END PGP PUBLIC KEY BLOCK-----"
GOOD = {
    "pull_mode_repo_url": "https://git.hosp-a.example/mi-harden.git",
    "pull_mode_branch": "main",
    "pull_mode_verify_commit": True,
    "pull_mode_signing_keys": [KEY + "\n\n"],
    "pull_mode_inventories": ["inventories/example", "inventories/hosp-a/"],
    "pull_mode_host": "hosp-a-t01",
    "pull_mode_playbook": "playbooks/site.yml",
    "pull_mode_audit_playbook": "playbooks/audit.yml",
    "pull_mode_tags": [],
    "pull_mode_checkout_dir": "/var/lib/mi-harden/pull/checkout",
    "pull_mode_report_spool": "/var/lib/mi-harden/reports/",
    "pull_mode_report_lang": "zh",
    "pull_mode_reports_kept": 14,
    "pull_mode_max_age_hours": 48,
}


def test_good_settings_are_normalised():
    got = mi_pull_settings(GOOD)
    assert got["pull_mode_inventories"] == ["inventories/example", "inventories/hosp-a"]
    assert got["pull_mode_report_spool"] == "/var/lib/mi-harden/reports"
    # ansible-core 2.14 (Debian 12, the terminals' ansible-pull) templates numbers as text
    assert mi_pull_settings(dict(GOOD, pull_mode_reports_kept="14"))["pull_mode_reports_kept"] == 14
    assert mi_pull_settings(dict(GOOD, pull_mode_verify_commit="False"))["pull_mode_verify_commit"] is False
    assert got["pull_mode_signing_keys"] == [KEY + "\n"]
    # a lab without signing: no key needed
    assert mi_pull_settings(dict(GOOD, pull_mode_verify_commit=False, pull_mode_signing_keys=[]))["pull_mode_signing_keys"] == []
    for url in ("ssh://git@git.site/mi.git", "git@git.site:mi/mi-harden.git", "git://git.site/mi.git", "file:///srv/git/mi.git"):
        assert mi_pull_settings(dict(GOOD, pull_mode_repo_url=url))["pull_mode_repo_url"] == url


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pull_mode_repo_url", "", r"pull_mode_repo_url: is empty"),
        ("pull_mode_repo_url", "ftp://git.site/mi.git", r"pull_mode_repo_url: 'ftp://git.site/mi.git' is not a git URL"),
        ("pull_mode_branch", "main..x", r"pull_mode_branch: 'main..x' is not a git branch"),
        ("pull_mode_verify_commit", "yes", r"pull_mode_verify_commit: true or false is required"),
        ("pull_mode_signing_keys", [], r"pull_mode_signing_keys: empty while pull_mode_verify_commit is true"),
        ("pull_mode_signing_keys", KEY, r"pull_mode_signing_keys: a list of ASCII-armoured OpenPGP public keys"),
        ("pull_mode_signing_keys", [KEY, "ABCD1234"], r"pull_mode_signing_keys\[1\]: is not an ASCII-armoured OpenPGP public key"),
        ("pull_mode_signing_keys", ["-----BEGIN PGP PRIVATE KEY BLOCK-----\nx\n-----END PGP PRIVATE KEY BLOCK-----"],
         r"pull_mode_signing_keys\[0\]: is a private key"),
        ("pull_mode_inventories", [], r"pull_mode_inventories: at least one"),
        ("pull_mode_inventories", ["inventories/x", "../etc"], r"pull_mode_inventories\[1\]: '../etc' leaves the repository"),
        ("pull_mode_inventories", ["/etc/ansible/hosts"], r"pull_mode_inventories\[0\]: '/etc/ansible/hosts' must be a path relative"),
        ("pull_mode_playbook", "playbooks/site", r"pull_mode_playbook: 'playbooks/site' is not a playbook"),
        ("pull_mode_host", "bad host", r"pull_mode_host: 'bad host' is not an inventory host name"),
        ("pull_mode_tags", ["MI-TIME-01", "a b"], r"pull_mode_tags\[1\]: 'a b' is not a tag"),
        ("pull_mode_checkout_dir", "/var/lib", r"pull_mode_checkout_dir: '/var/lib' is a system directory"),
        ("pull_mode_report_spool", "/var/lib/mi-harden/pull/checkout/reports", r"pull_mode_report_spool: must not lie inside"),
        ("pull_mode_report_lang", "fr", r"pull_mode_report_lang: 'fr' is not one of zh, en"),
        ("pull_mode_reports_kept", 0, r"pull_mode_reports_kept: a whole number of at least 1"),
    ],
)
def test_bad_settings_name_the_field(field, value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_pull_settings(dict(GOOD, **{field: value}))


def test_drift_of_the_last_pull_run():
    assert mi_pull_drift(None, NOW, 48) == [
        "the scheduled pull has not run yet (/var/lib/mi-harden/pull_mode.json missing or unreadable)"]
    fresh = {"epoch": NOW - 3600, "pull_rc": 0, "audit_rc": None, "commit": "abc"}
    assert mi_pull_drift(fresh, NOW, 48) == []  # the audit of this very run is under way
    assert mi_pull_drift(dict(fresh, audit_rc=0), NOW, 48) == []
    old = dict(fresh, epoch=NOW - 72 * 3600)
    assert mi_pull_drift(old, NOW, 48) == ["last pull run is 72 h old (policy: at most 48 h)"]
    failed = dict(fresh, pull_rc=2, audit_rc=4)
    assert mi_pull_drift(failed, NOW, 48) == [
        "last pull run: fetching the policy from the git server or the converge failed (exit 2)",
        "last pull run: the audit failed (exit 4)"]
    # a commit whose signature was refused: nothing of it ran, the signature is the finding
    refused = dict(fresh, pull_rc=1, commit="d3adb33f", verified=False)
    assert mi_pull_drift(refused, NOW, 48) == [
        "last pull run: commit d3adb33f is not signed by a key of pull_mode_signing_keys; it was neither converged nor audited"]
    assert mi_pull_drift(dict(fresh, audit_rc=0, verified=True, signer="ABC"), NOW, 48) == []
