"""mi_authorized_key (action_plugins/): ansible.posix.authorized_key answered on the
controller when every key is already in the file. Run by ansible-playbook on this machine
side by side with the module on the same key files; the results must be equal, and only the
cases where the module would write run it. The accounts are the test's own (system
accounts without a shell, their homes under pytest's temporary directory), removed at the
end: the test needs root."""

import base64
import os
import subprocess

import pytest
from conftest import assert_same_results, side_by_side

import mi_authorized_key

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1zwNc8de/gYK/0C5ilF4tZ8S0Y6+H2NXHO0dP3m+ML wangf@laptop"
ED2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPuQ5u1IcOPsF4Kz3kS5lZK8gYp4oJx1P2Zyq2sFQn9C li@desk"
FILES = {
    "one": f"{ED}\n",
    "two": f"# the controllers\n{ED}\n{ED2}\n",
    "options": f'from="10.20.0.0/16",no-agent-forwarding {ED}\n',
    "empty": "",
    "none": None,  # no key file
}


@pytest.fixture
def accounts(tmp_path):
    """One account per key file, named mi-ak-<pid>-<file>, home under tmp_path."""
    if os.geteuid() != 0:
        pytest.skip("creates accounts: needs root")
    names = {}
    try:
        for name, text in FILES.items():
            user, home = f"mi-ak{os.getpid()}-{name}", tmp_path / name
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", str(home),
                            "--shell", "/usr/sbin/nologin", user], check=True)
            names[name] = user
            (home / ".ssh").mkdir(parents=True)
            if text is not None:
                (home / ".ssh/authorized_keys").write_text(text)
        yield names
    finally:
        for user in names.values():
            subprocess.run(["userdel", user], check=False)


def _cases(u):
    safe = {
        "present": f"{{user: {u['one']}, key: '{ED}'}}",
        "present_among_others": f"{{user: {u['two']}, key: '{ED2}'}}",
        "two_keys_present": f"{{user: {u['two']}, key: \"{ED}\\n{ED2}\"}}",
        "exclusive_alone": f"{{user: {u['one']}, key: '{ED}', exclusive: true}}",
        "same_options": f"{{user: {u['options']}, key: '{ED}', "
                        "key_options: 'from=\"10.20.0.0/16\",no-agent-forwarding'}",
        "same_comment": f"{{user: {u['one']}, key: '{ED}', comment: wangf@laptop}}",
        "manage_dir_off": f"{{user: {u['one']}, key: '{ED}', manage_dir: false, validate_certs: false}}",
    }
    # in check mode only: the module would write
    check_only = {
        "missing": f"{{user: {u['one']}, key: '{ED2}'}}",
        "empty_file": f"{{user: {u['empty']}, key: '{ED}'}}",
        "no_file": f"{{user: {u['none']}, key: '{ED}'}}",
        "other_comment": f"{{user: {u['one']}, key: '{ED}', comment: someone@else}}",
        "other_options": f"{{user: {u['one']}, key: '{ED}', key_options: no-pty}}",
        "options_dropped": f"{{user: {u['options']}, key: '{ED}'}}",
        "exclusive_with_others": f"{{user: {u['two']}, key: '{ED}', exclusive: true}}",
        "absent": f"{{user: {u['one']}, key: '{ED}', state: absent}}",
        "follow": f"{{user: {u['one']}, key: '{ED}', follow: true}}",
        "no_account": f"{{user: mi-ak-no-such-account, key: '{ED}'}}",
    }
    return safe, check_only


@pytest.mark.parametrize("check", [False, True], ids=["converge", "check_mode"])
def test_mi_authorized_key_returns_what_the_module_returns(tmp_path, accounts, check):
    safe, check_only = _cases(accounts)
    cases = {**safe, **check_only} if check else safe
    results, runs = side_by_side(tmp_path, cases, "mi_authorized_key", "ansible.posix.authorized_key",
                                 *(["--check"] if check else []), keys="\n      failed_when: false")
    assert_same_results(results, cases)
    assert results["MI present"]["changed"] is False
    assert results["MI present"]["keyfile"] == str(tmp_path / "one/.ssh/authorized_keys")
    assert {n for n in cases if runs.get(f"MI {n}", 0) == 0} == set(safe), runs
    for name in check_only if check else ():
        if name not in ("absent", "follow", "no_account"):
            assert results[f"MI {name}"]["changed"], name
    # the converge cases were all "already there", and check mode writes nothing
    assert {n: (tmp_path / n / ".ssh/authorized_keys").read_text() for n, t in FILES.items() if t is not None} == {
        n: t for n, t in FILES.items() if t is not None}
    assert not (tmp_path / "none/.ssh/authorized_keys").exists()


def _out(entry="root:x:0:0:root:/root:/bin/bash", content=None):
    tail = "@mi-authorized-key none\n" if content is None else (
        f"@mi-authorized-key file\n{base64.b64encode(content.encode()).decode()}\n@mi-authorized-key end\n")
    return f"{entry}\n{tail}"


def test_the_home_directory_names_the_key_file():
    req = mi_authorized_key.request({"user": "root", "key": ED})
    assert mi_authorized_key.judge(req, _out(content=f"{ED}\n")) == {
        "user": "root", "key": ED, "path": None, "state": "present", "manage_dir": True, "exclusive": False,
        "validate_certs": True, "follow": False, "key_options": None, "comment": None,
        "keyfile": "/root/.ssh/authorized_keys", "changed": False}
    assert mi_authorized_key.judge(req, _out()) is None  # no file: the module writes one


@pytest.mark.parametrize("stdout", [
    "", "@mi-authorized-key no-account\n", _out(entry="rooter:x:0:0:root:/root:/bin/bash", content=f"{ED}\n"),
    _out(entry="root:x:0:0:root:root:/bin/bash", content=f"{ED}\n"), _out(content=f"{ED}\r\n"),
    _out(content=f"{ED}\n")[:-1], _out(content=f"{ED}\n").replace("@mi-authorized-key end", "@mi"),
    "root:x:0:0:root:/root:/bin/bash\n@mi-authorized-key file\n!!!\n@mi-authorized-key end\n",
    "root:x:0:0:root:/root:/bin/bash\n@mi-authorized-key file\n/w==\n@mi-authorized-key end\n",  # not UTF-8
])
def test_an_answer_it_cannot_read_goes_to_the_module(stdout):
    assert mi_authorized_key.judge(mi_authorized_key.request({"user": "root", "key": ED}), stdout) is None


@pytest.mark.parametrize("args", [
    {"user": "root", "key": ED, "state": "absent"}, {"user": "root", "key": "https://example.org/keys"},
    {"user": "root", "key": "file:///tmp/k"}, {"user": "root", "key": ED, "follow": True},
    {"user": "root", "key": ED, "path": "/root/.ssh/authorized_keys"}, {"user": "", "key": ED}, {"user": "a:b", "key": ED},
    {"user": "root", "key": ED, "exclusive": "perhaps"}, {"user": "root", "key": ED, "other": 1},
    {"user": "root"}, {"user": "root", "key": ED, "comment": 3},
])
def test_anything_else_goes_to_the_module(args):
    assert mi_authorized_key.request(args) is None


def test_a_key_the_parser_refuses_goes_to_the_module():
    for key in ("not a key", "ssh-ed25519"):
        assert mi_authorized_key.judge(mi_authorized_key.request({"user": "root", "key": key}),
                                       _out(content=f"{ED}\n")) is None
