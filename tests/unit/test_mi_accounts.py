"""Filters of filter_plugins/mi_accounts.py: password policy, people, account plan."""

import pytest
from ansible.errors import AnsibleFilterError

from mi_accounts import mi_account_people, mi_accounts_plan, mi_password_policy

SETTINGS = {
    "accounts_password_min_length": 12,
    "accounts_password_min_classes": 3,
    "accounts_password_max_days": 90,
    "accounts_password_min_days": 1,
    "accounts_password_warn_days": 14,
    "accounts_lockout_deny": 5,
    "accounts_lockout_unlock_time": 900,
}
ALICE = {"name": "alice", "full_name": "Alice", "tier": "administrator", "ssh_keys": ["ssh-ed25519 AAAA"]}
BOB = {"name": "bob", "tier": "operator"}


def _host(**over):
    """A small host: root, a system account with a shell, a person, an intruder in the admin group."""
    host = {
        "passwd": {
            "root": ["x", "0", "0", "root", "/root", "/bin/bash"],
            "daemon": ["x", "1", "1", "daemon", "/usr/sbin", "/usr/sbin/nologin"],
            "sync": ["x", "4", "65534", "sync", "/bin", "/bin/sync"],
            "svc": ["x", "990", "990", "", "/var/lib/svc", "/bin/bash"],
            "old": ["x", "1001", "1001", "", "/home/old", "/bin/bash"],
            "intruder": ["x", "1002", "1002", "", "/home/intruder", "/bin/bash"],
            "rescue": ["x", "1003", "1003", "", "/home/rescue", "/bin/bash"],
            "nobody": ["x", "65534", "65534", "", "/nonexistent", "/usr/sbin/nologin"],
        },
        "group": {
            "mi-admins": ["x", "2000", "intruder"],
            "sudo": ["x", "27", "intruder,rescue"],
            "users": ["x", "100", "intruder,old"],
        },
        "shadow": {
            "root": ["*", "19000", "0", "99999", "7", "", "", ""],
            "svc": ["$6$abc$def", "19000", "0", "99999", "7", "", "", ""],
            "daemon": ["*", "19000", "0", "99999", "7", "", "", ""],
            "old": ["$6$abc$def", "19000", "0", "99999", "7", "", "", ""],
            "intruder": ["$6$abc$def", "19000", "1", "90", "14", "", "", ""],
            "rescue": ["$6$abc$def", "19000", "0", "99999", "7", "", "", ""],
        },
        "admin_group": "mi-admins",
        "privileged_groups": ["sudo"],
        "exempt_group": "mi-lockout-exempt",
        "management_user": "root",
        "break_glass_user": "rescue",
        "shared_accounts": [],
        "system_login_allowed": [],
        "uid_min": 1000,
        "uid_max": 60000,
        "aging": {"max": 90, "min": 1, "warn": 14},
    }
    host.update(over)
    return host


# ---------------------------------------------------------------- password policy
def test_good_settings_pass_unchanged():
    assert mi_password_policy(dict(SETTINGS)) == SETTINGS


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"accounts_password_min_length": 7}, r"accounts_password_min_length: 7 must be between 8 and 128 \(GZ-C4"),
        ({"accounts_password_min_length": "12"}, r"accounts_password_min_length: '12' is not a whole number"),
        ({"accounts_password_min_length": True}, r"accounts_password_min_length: True is not a whole number"),
        ({"accounts_password_min_classes": 5}, r"accounts_password_min_classes: 5 must be between 1 and 4"),
        ({"accounts_lockout_deny": 0}, r"accounts_lockout_deny: 0 must be between 1 and 100"),
        ({"accounts_lockout_unlock_time": -1}, r"accounts_lockout_unlock_time: -1 must be at least 0"),
        ({"accounts_password_min_days": 90}, r"accounts_password_min_days: 90 must be below accounts_password_max_days"),
        ({"accounts_password_warn_days": 90}, r"accounts_password_warn_days: 90 must be below"),
    ],
)
def test_bad_settings_name_the_variable(over, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_password_policy(dict(SETTINGS, **over))


def test_settings_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError, match="must be a mapping"):
        mi_password_policy([12])


# ---------------------------------------------------------------- people
def test_people_are_normalised_and_keep_foreign_fields_out():
    people = mi_account_people([ALICE, BOB])
    assert people[0] == {"name": "alice", "full_name": "Alice", "tier": "administrator", "groups": [],
                         "initial_password_hash": None, "state": "present"}
    assert people[1]["tier"] == "operator"
    assert mi_account_people(None) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (dict(BOB, tier="superuser"), r"accounts_people\[0\] \('bob'\)\.tier: 'superuser' is not a known tier"),
        ({"name": "bob"}, r"accounts_people\[0\] \('bob'\)\.tier: None is not a known tier"),
        (dict(BOB, name="Bob Smith"), r"accounts_people\[0\] \('Bob Smith'\)\.name: 'Bob Smith' is not a user name"),
        (dict(BOB, name="root"), r"\.name: root is not a personal account"),
        (dict(BOB, full_name="a:b"), r"\.full_name: must be a text without ':'"),
        (dict(BOB, groups="lp"), r"\.groups: must be a list"),
        (dict(BOB, groups=["Bad Group"]), r"\.groups: 'Bad Group' is not a user name"),
        (dict(BOB, initial_password_hash="secret123"), r"\.initial_password_hash: must be a crypt\(3\) hash"),
        (dict(BOB, state="gone"), r"\.state: 'gone' is not one of"),
        (dict(BOB, teir="operator"), r"unknown field\(s\) \['teir'\]"),
        ("bob", r"accounts_people\[0\]: must be a mapping"),
    ],
)
def test_bad_person_names_the_entry_and_field(entry, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_account_people([entry])


def test_person_twice_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"accounts_people\[1\] \('bob'\)\.name: also at accounts_people\[0\]"):
        mi_account_people([BOB, dict(BOB, tier="administrator")])


def test_people_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="accounts_people: must be a list"):
        mi_account_people({"bob": "operator"})


# ---------------------------------------------------------------- plan
def test_plan_creates_prunes_ages_and_shuts():
    plan = mi_accounts_plan(mi_account_people([ALICE, BOB]), _host())
    assert plan["create"] == ["alice", "bob"]
    assert plan["admins"] == ["alice"]
    # intruder leaves mi-admins and sudo, keeps users; rescue (break-glass) stays in sudo
    assert plan["group_changes"] == [{"name": "intruder", "groups": ["users"], "remove": ["mi-admins", "sudo"]}]
    assert any("intruder is in privileged group mi-admins" in m for m in plan["drift"]["MI-ACC-05"])
    # old gets aging; intruder already has it; rescue (protected) never
    assert [a["name"] for a in plan["aging"]] == ["old"]
    assert plan["aging"][0] == {"name": "old", "max": 90, "min": 1, "warn": 14}
    # svc: system account with a shell and a password; sync and daemon are fine
    assert plan["nologin"] == ["svc"]
    assert plan["lock"] == ["svc"]
    assert plan["exempt_members"] == ["rescue"]
    assert plan["exempt_add"] == ["rescue"]  # the exempt group does not exist yet
    # old and intruder are login accounts the policy does not name
    assert {m.split()[0] for m in plan["drift"]["MI-ACC-06"]} == {"old", "intruder"}


def test_plan_without_pruning_reports_only():
    plan = mi_accounts_plan([], _host(prune=False))
    assert plan["group_changes"] == []
    assert plan["drift"]["MI-ACC-05"]
    assert plan["drift"]["MI-ACC-06"] == []  # nobody named: unlisted accounts are not reported


def test_shared_accounts_are_shut_but_not_aged():
    plan = mi_accounts_plan([], _host(shared_accounts=["old"]))
    assert "old" in plan["nologin"] and "old" in plan["lock"]
    assert plan["aging"] == []


def test_break_glass_that_does_not_exist_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"accounts_break_glass_user: account 'ghost' does not exist"):
        mi_accounts_plan([], _host(break_glass_user="ghost"))


def test_management_user_that_does_not_exist_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"accounts_management_user: account 'ansible' does not exist"):
        mi_accounts_plan([], _host(management_user="ansible"))


def test_break_glass_created_by_the_policy_is_accepted():
    people = mi_account_people([dict(ALICE, name="glass")])
    plan = mi_accounts_plan(people, _host(break_glass_user="glass"))
    assert "glass" in plan["create"] and "glass" in plan["exempt_members"]


def test_protected_account_cannot_be_shared_operator_or_retired():
    with pytest.raises(AnsibleFilterError, match=r"accounts_break_glass_user: 'rescue' is also in accounts_shared_accounts"):
        mi_accounts_plan([], _host(shared_accounts=["rescue"]))
    with pytest.raises(AnsibleFilterError, match=r"accounts_break_glass_user: 'rescue' is in accounts_people as an operator"):
        mi_accounts_plan(mi_account_people([dict(BOB, name="rescue")]), _host())
    with pytest.raises(AnsibleFilterError, match=r"accounts_break_glass_user: 'rescue' is listed in accounts_people with state absent"):
        mi_accounts_plan(mi_account_people([dict(ALICE, name="rescue", state="absent")]), _host())


def test_plan_leaving_no_admin_login_is_refused():
    host = _host(management_user="rescue")
    host["passwd"]["rescue"] = ["x", "1003", "1003", "", "/home/rescue", "/usr/sbin/nologin"]
    with pytest.raises(AnsibleFilterError, match="neither 'rescue' nor 'rescue' would keep an interactive shell"):
        mi_accounts_plan([], host)


def test_protected_system_account_keeps_its_shell():
    host = _host(management_user="svc")
    plan = mi_accounts_plan([], host)
    assert "svc" not in plan["nologin"] and "svc" not in plan["lock"]
    assert plan["exempt_members"] == ["rescue", "svc"]


def test_exempt_add_lists_only_accounts_not_yet_in_the_exempt_group():
    host = _host(management_user="svc")
    host["group"]["mi-lockout-exempt"] = ["x", "2001", "svc,intruder"]
    plan = mi_accounts_plan([], host)
    assert plan["exempt_add"] == ["rescue"]
    host["group"]["mi-lockout-exempt"] = ["x", "2001", "rescue,svc"]
    assert mi_accounts_plan([], host)["exempt_add"] == []
    # a member by primary group only is still added (the user module compares supplementary groups)
    host["group"]["mi-lockout-exempt"] = ["x", "1003", "svc"]
    assert mi_accounts_plan([], host)["exempt_add"] == ["rescue"]
    assert mi_accounts_plan([], _host(exempt_group=""))["exempt_add"] == []


def test_person_asking_for_privileged_group_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"accounts_people \('bob'\)\.groups: \['sudo'\] are privileged"):
        mi_accounts_plan(mi_account_people([dict(BOB, groups=["sudo"])]), _host())


def test_break_glass_without_password_is_drift():
    host = _host()
    host["shadow"]["rescue"][0] = "!"
    plan = mi_accounts_plan([], host)
    assert any("break-glass account rescue has no usable password" in m for m in plan["drift"]["MI-ACC-05"])


def test_bad_shared_account_name_is_named():
    with pytest.raises(AnsibleFilterError, match=r"accounts_shared_accounts\[0\]: 'Front Desk' is not a user name"):
        mi_accounts_plan([], _host(shared_accounts=["Front Desk"]))
