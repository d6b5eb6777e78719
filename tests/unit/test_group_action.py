"""mi_group (action_plugins/): ansible.builtin.group answered by getent when the group is
already there. Run by ansible-playbook on this machine side by side with the builtin on the
same groups; the results must be equal and only the cases that need the module run it."""

import pytest
from conftest import assert_same_results, side_by_side

import mi_group

# safe to converge: nothing here changes this machine
SAFE = {
    "exists": "{name: root}",
    "exists_state": "{name: daemon, state: present}",
    "system": "{name: root, system: true}",
    "same_gid": "{name: root, gid: 0}",
    "same_gid_text": "{name: root, gid: '0'}",
    "gid_min_ignored": "{name: root, gid_min: 100, gid_max: 200}",
    "absent_missing": "{name: mi-no-such-group, state: absent}",  # the module: nothing to do
}
# in check mode only: the module would create or change them
CHECK_ONLY = {
    "missing": "{name: mi-no-such-group}",
    "other_gid": "{name: root, gid: 4242}",
    "absent_existing": "{name: root, state: absent}",
    "local": "{name: root, local: true}",
}
MODULE = {"absent_missing", "missing", "other_gid", "absent_existing", "local"}


@pytest.mark.parametrize(("flags", "cases"), [((), SAFE), (("--check",), {**SAFE, **CHECK_ONLY})],
                         ids=["converge", "check_mode"])
def test_mi_group_returns_what_group_returns(tmp_path, flags, cases):
    results, runs = side_by_side(tmp_path, cases, "mi_group", "ansible.builtin.group", *flags,
                                 keys="\n      failed_when: false")
    assert_same_results(results, cases)
    assert results["MI exists"] == {"changed": False, "name": "root", "state": "present", "system": False,
                                    "gid": 0, "failed": False, "failed_when_result": False}
    assert {n for n in cases if runs.get(f"MI {n}", 0) == 0} == set(cases) - MODULE, runs
    if "--check" in flags:
        assert results["MI missing"]["changed"] and results["MI other_gid"]["changed"]


@pytest.mark.parametrize("args", [
    {"name": "root", "state": "absent"}, {"name": "root", "force": True}, {"name": "root", "non_unique": True, "gid": 0},
    {"name": "root", "local": "yes"}, {"name": "a:b"}, {"name": ""}, {}, {"name": "root", "gid": "zero"},
    {"name": "root", "system": "maybe"}, {"name": "root", "other": 1},
])
def test_anything_else_goes_to_the_module(args):
    assert mi_group.request(args) is None


@pytest.mark.parametrize("stdout", [
    "", "root:x:0:\n", "root:x:0:\n\n@mi-group-rc 2\n", "root:x:0\n\n@mi-group-rc 0\n",
    "rooter:x:0:\n\n@mi-group-rc 0\n", "root:x:zero:\n\n@mi-group-rc 0\n", "root:x:0:\r\n\n@mi-group-rc 0\n",
    "root:x:0:\nroot:x:0:\n\n@mi-group-rc 0\n",
])
def test_an_answer_it_cannot_read_goes_to_the_module(stdout):
    assert mi_group.judge(mi_group.request({"name": "root"}), stdout) is None


def test_another_gid_goes_to_the_module():
    req = mi_group.request({"name": "root", "gid": 5})
    assert mi_group.judge(req, "root:x:0:\n\n@mi-group-rc 0\n") is None
    assert mi_group.judge({**req, "gid": 0}, "root:x:0:\n\n@mi-group-rc 0\n")["gid"] == 0
