"""Every play of site.yml carries the audit keywords, so audit.yml forces check mode on it."""

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
    plays = yaml.safe_load((ROOT / "playbooks/site.yml").read_text())
    first = plays[0]
    validated = {t["ansible.builtin.include_role"]["name"] for t in first["tasks"] if "ansible.builtin.include_role" in t}
    applied = {r["role"] if isinstance(r, dict) else r for p in plays[1:] for r in p.get("roles", [])}
    assert applied <= validated | {"policy"}, applied - validated
    # The flag the roles' plays read in check mode comes last, after every role's checks.
    assert first["tasks"][-1]["ansible.builtin.set_fact"] == {"mi_preflight_checked": True}
    assert first["tasks"][-1]["tags"] == ["always"]


def test_audit_imports_site():
    plays = yaml.safe_load((ROOT / "playbooks/audit.yml").read_text())
    imports = [p for p in plays if "ansible.builtin.import_playbook" in p]
    assert imports == [{"name": "Audit | the baseline, in check mode", "ansible.builtin.import_playbook": "site.yml",
                        "vars": {"mi_audit": True}}]
