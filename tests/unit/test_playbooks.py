"""Every play of site.yml carries the audit keywords, so audit.yml forces check mode on it."""

import re

import pytest
import yaml
from conftest import ROOT

CHECK = "{{ mi_audit | default(ansible_check_mode) | bool }}"
DIFF = "{{ mi_audit | default(ansible_diff_mode) | bool }}"


def test_site_plays_can_be_forced_into_check_mode():
    plays = yaml.safe_load((ROOT / "playbooks/site.yml").read_text())
    assert plays
    for play in plays:
        assert play.get("check_mode") == CHECK, play["name"]
        assert play.get("diff") == DIFF, play["name"]


def test_site_validates_every_role_first():
    """The first play checks every role's input; the role plays then import their role with
    rolespec_validate: false, because the first play checked the role's variables through its
    `validate` entry point, which must be the whole `main` spec (ansible checks an entry
    point's spec when the role starts from it)."""
    plays = yaml.safe_load((ROOT / "playbooks/site.yml").read_text())
    first = plays[0]
    validated = {t["ansible.builtin.import_role"]["name"] for t in first["tasks"] if "ansible.builtin.import_role" in t}
    imports = [(p["name"], t["ansible.builtin.import_role"]) for p in plays[1:] for t in p.get("tasks", [])
               if "ansible.builtin.import_role" in t]
    applied = {imported["name"] for _, imported in imports}
    assert len(applied) == 14 and all(not p.get("roles") for p in plays[1:])
    assert applied <= validated | {"policy"}, applied - validated
    for play, imported in imports:
        assert imported.get("rolespec_validate") is False, play
        specs = yaml.safe_load((ROOT / "roles" / imported["name"] / "meta/argument_specs.yml").read_text())
        assert imported["name"] in validated, imported["name"]
        assert specs["argument_specs"]["validate"] == specs["argument_specs"]["main"], imported["name"]
    # The flag the roles' plays read in check mode comes last, after every role's checks.
    assert first["tasks"][-1]["ansible.builtin.set_fact"] == {"mi_preflight_checked": True}
    assert first["tasks"][-1]["tags"] == ["always"]


def test_site_gathers_no_facts_and_the_roles_need_none():
    """No play of site.yml runs setup (about 0.9 s a run). The roles read only the facts
    mi_getent sets, and the Debian release, which time_sync and updates read themselves from
    /etc/os-release when no play gathered it (the fact is used only where it is defined)."""
    plays = yaml.safe_load((ROOT / "playbooks/site.yml").read_text())
    assert [p["name"] for p in plays if p.get("gather_facts", True)] == []
    read = {}
    for path in sorted((ROOT / "roles").glob("*/*/**/*")):
        if path.is_file() and path.suffix in (".yml", ".j2"):
            for fact in re.findall(r"ansible_facts(?:\.|\[')(\w+)", path.read_text()):
                read.setdefault(fact, set()).add(path.relative_to(ROOT / "roles").parts[0])
    assert {f for f in read if not f.startswith("getent_")} == {"distribution_release"}, read
    assert read["distribution_release"] == {"time_sync", "updates"}
    for role in ("time_sync", "updates"):
        text = (ROOT / "roles" / role / "tasks/validate.yml").read_text()
        assert text.count("ansible_facts.distribution_release") == 3, role  # the slurp's when, the fallback
        assert "ansible_facts.distribution_release if ansible_facts.distribution_release is defined" in text


def test_audit_imports_site():
    plays = yaml.safe_load((ROOT / "playbooks/audit.yml").read_text())
    imports = [p for p in plays if "ansible.builtin.import_playbook" in p]
    assert imports == [{"name": "Audit | the baseline, in check mode", "ansible.builtin.import_playbook": "site.yml",
                        "vars": {"mi_audit": True}}]


def _validate_include(role_dir):
    tasks = yaml.safe_load((role_dir / "tasks/main.yml").read_text())
    found = [t for t in tasks if (t.get("ansible.builtin.include_tasks") or {}).get("file") == "validate.yml"]
    assert len(found) == 1, f"{role_dir.name}: main.yml includes validate.yml once, first"
    assert tasks.index(found[0]) == 0, role_dir.name
    return found[0]


# (variables of the run, does the role's play check its input again?)
RUNS = [
    ({"ansible_check_mode": False, "mi_preflight_checked": True}, True),   # converge of site.yml
    ({"ansible_check_mode": False}, True),                                 # the role on its own
    ({"ansible_check_mode": True}, True),                                  # the role alone, --check
    ({"ansible_check_mode": False, "mi_audit": True}, True),               # audit without the first play
    ({"ansible_check_mode": False, "mi_audit": True, "mi_preflight_checked": True}, False),  # audit.yml
    ({"ansible_check_mode": True, "mi_preflight_checked": True}, False),   # site.yml --check
    ({"ansible_check_mode": True, "mi_audit": False, "mi_preflight_checked": True}, True),  # forced converge
    # mi_run_changed (callback_plugins/mi_changes.py): has a task of this run changed the host?
    ({"ansible_check_mode": False, "mi_preflight_checked": True, "mi_run_changed": False}, False),  # second converge
    ({"ansible_check_mode": False, "mi_preflight_checked": True, "mi_run_changed": True}, True),   # first converge
    ({"ansible_check_mode": False, "mi_run_changed": False}, True),        # the role alone: no first play
    ({"ansible_check_mode": True, "mi_audit": False, "mi_preflight_checked": True, "mi_run_changed": True}, True),
    ({"ansible_check_mode": False, "mi_audit": True, "mi_preflight_checked": True, "mi_run_changed": True}, False),
]


def test_roles_check_input_again_unless_an_audit_already_did():
    """Each role's play checks its input again in a converge once this run has changed the host
    (the roles before it may have changed what it reads), and skips it after site.yml's first
    play checked it when nothing changed since: in check mode, or before any change."""
    import jinja2
    from ansible.plugins.filter.core import to_bool

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["bool"] = to_bool
    roles = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks/validate.yml").exists())
    assert len(roles) == 14
    for role in roles:
        inc = _validate_include(role)
        assert inc["tags"] == ["always"] and inc["ansible.builtin.include_tasks"]["apply"] == {"tags": ["always"]}
        expr = env.compile_expression(inc["when"])
        for variables, runs in RUNS:
            assert bool(expr(**variables)) is runs, (role.name, variables)


def _role_tasks():
    """Every task of every role's task files, blocks opened, with the file it is in."""
    def walk(tasks, path):
        for task in tasks or []:
            if "block" in task:
                for part in ("block", "rescue", "always"):
                    yield from walk(task.get(part), path)
            else:
                yield path, task
    for path in sorted(ROOT.glob("roles/*/tasks/*.yml")):
        yield from walk(yaml.safe_load(path.read_text()), path.relative_to(ROOT))


def test_mi_command_runs_only_read_only_commands():
    """mi_command runs a command again through the module when it cannot read the answer
    (action_plugins/mi_command.py): a command that changes anything stays on the builtin, or
    has a literal absolute `creates` (mi_command then only tests the path; the module alone
    runs the command)."""
    found = [(p, t) for p, t in _role_tasks() if "mi_command" in t]
    assert found
    changing = []
    for path, task in found:
        creates = task["mi_command"].get("creates")
        if creates is not None:
            changing.append(task["name"])
            assert creates.startswith(("/", "{{")) and not any(c in creates for c in "*?["), f"{path}: {task['name']}"
            assert "changed_when" not in task, f"{path}: {task['name']}: the module's changed decides"
        else:
            assert task.get("changed_when") is False, f"{path}: {task['name']}: mi_command is for read-only commands"
    assert len(changing) == 2, changing  # the AIDE baseline, the restic repositories


def test_mi_command_arguments_with_dollars_are_not_expanded():
    """An argument with `$` or a leading `~` sends an mi_command task to the command module
    (which would expand it) unless the task says expand_argument_vars: false: the roles'
    dollars are the commands' own (dpkg-query's fields, a script's variables)."""
    found = [(p, t) for p, t in _role_tasks() if "mi_command" in t]
    for path, task in found:
        args = task["mi_command"]
        parts = args.get("argv") or [args.get("cmd", "")]
        if any("$" in str(a) or str(a).startswith("~") for a in parts):
            assert args.get("expand_argument_vars") is False, f"{path}: {task['name']}"


def test_stat_tasks_ask_only_what_the_roles_read():
    """The stat module's mime type (file) and attributes (lsattr) are read by no role; with
    them off mi_stat answers without a module run."""
    found = [(p, t) for p, t in _role_tasks() if "mi_stat" in t or "ansible.builtin.stat" in t]
    assert found
    for path, task in found:
        assert "mi_stat" in task, f"{path}: {task['name']}: use mi_stat"
        assert task["mi_stat"].get("get_mime") is False and task["mi_stat"].get("get_attributes") is False, \
            f"{path}: {task['name']}: get_mime and get_attributes off"


def test_unit_tasks_use_mi_systemd_service():
    """A role task that keeps a unit in a state (not a handler, which acts) goes through
    mi_systemd_service, which answers without a module run when the unit is in order."""
    found = [(p, t) for p, t in _role_tasks() if "mi_systemd_service" in t or "ansible.builtin.systemd_service" in t]
    assert found
    for path, task in found:
        assert "mi_systemd_service" in task, f"{path}: {task['name']}: use mi_systemd_service"


@pytest.mark.parametrize("module", ["ansible.builtin.slurp", "ansible.builtin.getent", "ansible.builtin.group",
                                    "ansible.builtin.lineinfile", "ansible.builtin.find",
                                    "ansible.posix.authorized_key"])
def test_reads_use_the_projects_actions(module):
    """slurp, getent, group, lineinfile, find and authorized_key tasks of the roles go through
    mi_slurp, mi_getent, mi_group, mi_lineinfile, mi_find and mi_authorized_key (one shell
    command instead of a module run when nothing would change; the module answers whatever
    they cannot)."""
    action = "mi_" + module.rsplit(".", 1)[1]
    found = [(p, t) for p, t in _role_tasks() if action in t or module in t]
    assert found
    for path, task in found:
        assert action in task, f"{path}: {task['name']}: use {action}"
