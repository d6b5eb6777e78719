"""Filters of filter_plugins/mi_software.py and the decisions of the APT hook
roles/software_allowlist/files/mi-apt-allowlist (MI-SW-01, MI-SW-02, MI-SW-03)."""

import importlib.machinery
import importlib.util
import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from mi_software import (
    mi_installed_packages,
    mi_software_assess,
    mi_software_capture,
    mi_software_policy,
    mi_software_sources,
)

ROOT = Path(__file__).resolve().parents[2]
DENIED = {"software_allowlist_denied_builtin": ["section:games", "x11vnc", "transmission*", "samba"]}


def _load_hook():
    path = ROOT / "roles/software_allowlist/files/mi-apt-allowlist"
    loader = importlib.machinery.SourceFileLoader("mi_apt_allowlist", str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


HOOK = _load_hook()


def _line(status, name, section="utils", priority="optional", essential="no", pre="", dep="", rec="", prov=""):
    return "\t".join([status, name, section, priority, essential, pre, dep, rec, prov])


DPKG = "\n".join([
    _line("ii ", "base-files", "admin", "required", "yes"),
    _line("ii ", "python3", "python", "optional", dep="python3.11 (>= 3.11.2-1~), libpython3-stdlib (= 3.11.2-1+b1)"),
    _line("ii ", "python3.11", "python", "optional", dep="libpython3.11-stdlib (= 3.11.2-6)"),
    _line("ii ", "libpython3-stdlib", "python", "optional"),
    _line("ii ", "libpython3.11-stdlib", "python", "optional", dep="mime-support | media-types"),
    _line("ii ", "media-types", "net", "optional"),
    _line("ii ", "jq", "utils", "optional", dep="libjq1 (= 1.6), libc6:any (>= 2.34)"),
    _line("ii ", "libjq1", "libs", "optional", dep="libonig5"),
    _line("ii ", "libonig5", "libs", "optional"),
    _line("ii ", "bsdgames", "games", "optional", dep="wamerican | wordlist"),
    _line("ii ", "wamerican", "text", "optional", prov="wordlist"),
    _line("ii ", "figlet", "text", "optional"),
    _line("ii ", "mailx", "mail", "optional", dep="default-mta | mail-transport-agent"),
    _line("ii ", "exim4", "mail", "optional", prov="mail-transport-agent"),
    _line("rc ", "oldthing", "utils", "optional"),
    _line("ii ", "ninvaders", "contrib/games", "optional"),
])


@pytest.fixture(name="installed")
def fixture_installed():
    return mi_installed_packages(DPKG + "\n", "libjq1\nlibonig5:amd64\nwamerican\n")


def test_installed_packages_parsed(installed):
    by_name = {p["name"]: p for p in installed}
    assert "oldthing" not in by_name  # only configuration files left
    assert by_name["jq"]["needs"] == ["libc6", "libjq1"]
    assert by_name["libjq1"]["auto"] and by_name["libonig5"]["auto"] and not by_name["jq"]["auto"]
    assert by_name["base-files"]["essential"]
    assert by_name["libpython3.11-stdlib"]["needs"] == ["media-types", "mime-support"]
    assert by_name["exim4"]["provides"] == ["mail-transport-agent"]


def test_bad_dpkg_output_is_named():
    with pytest.raises(AnsibleFilterError, match="dpkg-query line 1 has 2 fields"):
        mi_installed_packages("ii \tfoo\n", "")


def test_assess_approves_dependencies_and_flags_the_rest(installed):
    policy = mi_software_policy({"software_allowlist_site": ["python3", "jq"]}, DENIED)
    result = mi_software_assess(installed, policy)
    # dependencies of approved software are approved, whatever apt marks them as
    assert {"python3.11", "libpython3.11-stdlib", "media-types", "libjq1", "libonig5"} <= set(result["approved"])
    assert "base-files" in result["approved"]  # priority required / Essential
    assert result["denied"] == [
        {"name": "bsdgames", "reason": "section games", "required_by": []},
        {"name": "ninvaders", "reason": "section games", "required_by": []},
    ]
    # wamerican was installed by apt only for the game: it goes with it
    assert result["remove"] == ["bsdgames", "ninvaders", "wamerican"]
    # mailx pulled exim4 in through a virtual package
    assert [u["name"] for u in result["unapproved"]] == ["exim4", "figlet", "mailx"]
    by_name = {u["name"]: u for u in result["unapproved"]}
    assert by_name["exim4"]["required_by"] == ["mailx"]
    assert "figlet: not approved (installed by hand, section text)" in result["messages"]
    assert "exim4: not approved (needed by mailx)" in result["messages"]


def test_leftovers_of_denied_software_are_removed_to_a_fixed_point():
    def pkg(name, section="libs", auto=True, needs=()):
        return {"name": name, "section": section, "priority": "optional", "essential": False,
                "auto": auto, "needs": list(needs), "provides": []}
    installed = [pkg("game", "games", False, ["game-data", "libshared"]), pkg("game-data", needs=["libdeep"]),
                 pkg("libdeep"), pkg("libshared"), pkg("tool", "utils", False, ["libshared"]),
                 pkg("handpicked", "utils", False), pkg("orphan")]
    result = mi_software_assess(installed, mi_software_policy({}, DENIED))
    assert result["remove"] == ["game", "game-data", "libdeep"]
    # libshared stays (tool needs it); handpicked was not installed by apt for the game;
    # an orphan nobody needs is not this role's business to autoremove
    assert [u["name"] for u in result["unapproved"]] == ["handpicked", "libshared", "orphan", "tool"]


def test_virtual_dependency_of_approved_package_is_approved(installed):
    policy = mi_software_policy({"software_allowlist_site": ["mailx", "figlet"]}, DENIED)
    result = mi_software_assess(installed, policy)
    assert {"mailx", "exim4", "figlet"} <= set(result["approved"])


def test_pattern_and_priority_approval(installed):
    policy = mi_software_policy({"software_allowlist_base": ["python3*", "lib*"]}, {}, ["required"])
    approved = set(mi_software_assess(installed, policy)["approved"])
    assert {"python3", "python3.11", "libjq1", "base-files"} <= approved
    assert "jq" not in approved


def test_denied_package_an_approved_one_needs_is_a_conflict_not_a_removal(installed):
    policy = mi_software_policy({"software_allowlist_site": ["bsdgames-helper"]},
                                {"software_allowlist_denied": ["wamerican"]})
    packages = [*installed, {"name": "bsdgames-helper", "section": "utils", "priority": "optional",
                             "essential": False, "auto": False, "needs": ["wordlist"], "provides": []}]
    result = mi_software_assess(packages, policy)
    assert result["remove"] == []
    assert result["conflicts"] == [
        "wamerican: denied (denylist entry 'wamerican') but approved bsdgames-helper need(s) it; "
        "not removed until the policy resolves this"
    ]


def test_policy_is_normalised():
    policy = mi_software_policy(
        {"a": ["jq", "python3*", "jq"], "b": None},
        {"d": ["section:games", "x11vnc", "teamviewer*"]},
        ["standard", "required"],
    )
    assert policy == {
        "approve": ["jq", "python3*"],
        "deny": ["teamviewer*", "x11vnc"],
        "deny_sections": ["games"],
        "priorities": ["required", "standard"],
    }


@pytest.mark.parametrize(
    ("approved", "message"),
    [
        (["Firefox"], r"software_allowlist_site\[0\]: 'Firefox' is not a valid Debian package name"),
        (["jq", "my tool"], r"software_allowlist_site\[1\]: 'my tool' is not a valid Debian package name"),
        (["a"], r"software_allowlist_site\[0\]: 'a' is not a valid Debian package name"),
        (["-jq"], r"software_allowlist_site\[0\]: '-jq'"),
        (["*"], r"software_allowlist_site\[0\]: '\*' matches every package"),
        (["*-dev"], r"software_allowlist_site\[0\]: '\*-dev' must start with a letter or digit"),
        (["lib[abc*"], r"software_allowlist_site\[0\]: 'lib\[abc\*' is not a valid package pattern"),
        (["py$thon*"], r"software_allowlist_site\[0\]: 'py\$thon\*' is not a valid package pattern"),
        ([42], r"software_allowlist_site\[0\]: 42 is not a package name or pattern"),
        (["section:games"], r"software_allowlist_site\[0\]: 'section:games' is not a valid Debian package name"),
        (["x11vnc"], r"software_allowlist_site\[0\]: 'x11vnc' is approved but software_allowlist_denied_builtin\[1\]"),
        (["transmission-cli"], r"'transmission-cli' is approved but software_allowlist_denied_builtin\[2\] \('transmission\*'\)"),
    ],
)
def test_bad_approved_entry_names_the_variable_and_index(approved, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_software_policy({"software_allowlist_site": approved}, DENIED)


@pytest.mark.parametrize(
    ("denied", "message"),
    [
        (["section:"], r"software_allowlist_denied\[0\]: 'section:' does not name a Debian section"),
        (["section:Games!"], r"software_allowlist_denied\[0\]: 'section:Games!'"),
        (["*"], r"software_allowlist_denied\[0\]: '\*' matches every package"),
        (["Steam"], r"software_allowlist_denied\[0\]: 'Steam' is not a valid Debian package name"),
    ],
)
def test_bad_denied_entry_names_the_variable_and_index(denied, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mi_software_policy({}, {"software_allowlist_denied": denied})


def test_bad_shapes_are_named():
    with pytest.raises(AnsibleFilterError, match="software_allowlist_site: must be a list"):
        mi_software_policy({"software_allowlist_site": "jq"}, {})
    with pytest.raises(AnsibleFilterError, match=r"software_allowlist_priorities: \['optional'\] must be a list of"):
        mi_software_policy({}, {}, ["optional"])
    with pytest.raises(AnsibleFilterError, match="approved software: must be a mapping"):
        mi_software_policy(["jq"], {})


def test_sources_name_every_site_type_and_capture():
    sources = mi_software_sources({"hospital": ["his-bridge"]}, {"hosp-a": {"packages": ["jq"], "captured_from": "t1"}})
    assert sources == {
        "software_allowlist_by_site_type[hospital]": ["his-bridge"],
        "software_allowlist_captured[hosp-a].packages": ["jq"],
    }
    with pytest.raises(AnsibleFilterError, match=r"software_allowlist_by_site_type\[pharmacy\]\[0\]: 'POS'"):
        mi_software_policy(mi_software_sources({"pharmacy": ["POS"]}, {}), {})
    with pytest.raises(AnsibleFilterError, match=r"software_allowlist_captured\[hosp-a\]: must be a mapping with a 'packages' list"):
        mi_software_sources({}, {"hosp-a": ["jq"]})
    with pytest.raises(AnsibleFilterError, match="software_allowlist_by_site_type: must be a mapping"):
        mi_software_sources([], {})


# ---------------------------------------------------------------- the APT hook (MI-SW-03)
HOOK_POLICY = {
    "policy": "mi-terminal-baseline", "version": "2026.11",
    "approve": ["jq", "mi-client*"], "deny": ["x11vnc"], "deny_sections": ["games"],
    "priorities": ["required", "important", "standard"], "log_file": "/tmp/x.log",
}
CONTROL = {
    "/c/jq.deb": {"Section": "utils", "Priority": "optional", "Depends": "libjq1 (= 1.6), libc6 (>= 2.34)"},
    "/c/libjq1.deb": {"Section": "libs", "Priority": "optional", "Depends": "libonig5"},
    "/c/libonig5.deb": {"Section": "libs", "Priority": "optional"},
    "/c/bsdgames.deb": {"Section": "games", "Priority": "optional"},
    "/c/figlet.deb": {"Section": "text", "Priority": "optional"},
    "/c/openssl.deb": {"Section": "utils", "Priority": "optional", "Depends": "libssl3t64"},
    "/c/libssl3t64.deb": {"Section": "libs", "Priority": "optional", "Provides": "libssl3 (= 3.1)"},
    "/c/x11vnc.deb": {"Section": "x11", "Priority": "optional"},
    "/c/ed.deb": {"Section": "editors", "Priority": "important"},
}


def _input(*packages, config=("APT::Architecture=amd64",)):
    """Hook protocol version 3, as apt writes it."""
    lines = ["VERSION 3", *config, ""]
    for name, old in packages:
        new = "2.0"
        lines.append(f"{name} {old} {'-' if old == '-' else 'amd64'} none < {new} amd64 none /c/{name}.deb")
    for name, old in packages:
        lines.append(f"{name} {old} - none < 2.0 amd64 none **CONFIGURE**")
    return "\n".join(lines) + "\n"


def _decide(text, policy=HOOK_POLICY, installed_needs=()):
    _, actions = HOOK.parse_hook_input(text)
    return HOOK.decide(actions, policy, CONTROL.__getitem__, set(installed_needs))


def test_hook_parses_protocol_version_3_with_config():
    config, actions = HOOK.parse_hook_input(_input(("jq", "-"), config=("MiHarden::Software::Override=ticket%204711",)))
    assert config["MiHarden::Software::Override"] == "ticket 4711"
    assert actions[0] == {"name": "jq", "old": "-", "new": "2.0", "action": "/c/jq.deb"}
    with pytest.raises(ValueError, match="unexpected hook protocol"):
        HOOK.parse_hook_input("jq - < 1.0 /c/jq.deb\n")


def test_hook_lets_approved_package_and_its_new_dependencies_in():
    assert _decide(_input(("libonig5", "-"), ("libjq1", "-"), ("jq", "-"))) == []


def test_hook_refuses_unapproved_and_denied_packages():
    assert _decide(_input(("figlet", "-"), ("bsdgames", "-"), ("x11vnc", "-"))) == [
        ("bsdgames", "denied by the policy (section games)"),
        ("figlet", "not on the approved software list"),
        ("x11vnc", "denied by the policy (denylist entry 'x11vnc')"),
    ]


def test_hook_names_dependencies_of_refused_packages():
    assert _decide(_input(("libonig5", "-"), ("libjq1", "-"), ("jq", "-")), policy=dict(HOOK_POLICY, approve=[])) == [
        ("jq", "not on the approved software list"),
        ("libjq1", "needed only by jq, refused"),
        ("libonig5", "needed only by libjq1, refused"),
    ]


def test_hook_refuses_a_library_asked_for_on_its_own():
    assert _decide(_input(("libonig5", "-"))) == [("libonig5", "not on the approved software list")]


def test_hook_lets_updates_and_their_new_dependencies_in():
    """A security update of an installed (even unapproved) package that needs a new
    library (soname change through a virtual package) installs."""
    assert _decide(_input(("openssl", "1.0"), ("libssl3t64", "-"))) == []
    assert _decide(_input(("figlet", "1.0"))) == []  # upgrade of installed software


def test_hook_lets_in_what_installed_packages_need():
    assert _decide(_input(("libonig5", "-")), installed_needs={"libonig5"}) == []


def test_hook_approves_by_priority():
    assert _decide(_input(("ed", "-"))) == []


def test_hook_with_unusable_policy_lets_updates_in_and_refuses_new_software():
    assert _decide(_input(("openssl", "1.0"), ("libssl3t64", "-")), policy=None) == []
    assert _decide(_input(("jq", "-"), ("libjq1", "-"), ("libonig5", "-")), policy=None) == [
        ("jq", "not on the approved software list"),
        ("libjq1", "needed only by jq, refused"),
        ("libonig5", "needed only by libjq1, refused"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "must hold a JSON object"),
        (json.dumps(dict(HOOK_POLICY, version="")), "'version' must be a non-empty string"),
        (json.dumps(dict(HOOK_POLICY, approve="jq")), "'approve' must be a list"),
        (json.dumps(dict(HOOK_POLICY, deny=["Bad Name"])), "'deny' has invalid entries"),
        (json.dumps(dict(HOOK_POLICY, priorities=["optional"])), "'priorities' has invalid entries"),
    ],
)
def test_hook_policy_file_checked(tmp_path, content, message):
    path = tmp_path / "policy.json"
    path.write_text(content)
    with pytest.raises(HOOK.PolicyError, match=message):
        HOOK.load_policy(str(path))
    with pytest.raises(HOOK.PolicyError, match="cannot read"):
        HOOK.load_policy(str(tmp_path / "missing.json"))


def test_hook_accepts_the_policy_the_role_renders(tmp_path):
    policy = mi_software_policy({"software_allowlist_site": ["jq", "mi-client*", "lib[ab]*"]}, DENIED)
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"policy": "p", "version": "1", "log_file": "/x", **policy}))
    assert HOOK.load_policy(str(path))["deny_sections"] == ["games"]
    assert HOOK.main(["mi-apt-allowlist", "--check-policy", str(path)]) == 0


def test_capture_keeps_the_fewest_names_that_approve_everything(installed):
    cycle = [
        {"name": "cyc-a", "section": "libs", "priority": "optional", "essential": False, "auto": False,
         "needs": ["cyc-b"], "provides": []},
        {"name": "cyc-b", "section": "libs", "priority": "optional", "essential": False, "auto": False,
         "needs": ["cyc-a"], "provides": []},
    ]
    policy = mi_software_policy({}, DENIED)
    captured = mi_software_capture([*installed, *cycle], policy)
    assert captured["denied"] == ["bsdgames", "ninvaders"]
    # base-files is approved by priority; libraries come with what needs them; a cycle
    # nothing else needs is kept by one name; wamerican only served the denied game
    assert captured["packages"] == ["cyc-a", "figlet", "jq", "mailx", "python3", "wamerican"]
    approve_all = mi_software_policy({"software_allowlist_captured[x].packages": captured["packages"]}, DENIED)
    result = mi_software_assess([*installed, *cycle], approve_all)
    assert result["unapproved"] == []
