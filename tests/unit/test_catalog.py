"""The control catalog against the clause register, the roles and the tests it names."""

import re

import yaml
from conftest import ROOT

from mi_policy import mi_catalog_index

CATALOG = yaml.safe_load((ROOT / "policy/controls.yml").read_text())
REGISTER = yaml.safe_load((ROOT / CATALOG["clause_register"]).read_text())
CLAUSES = {c["id"]: c for c in REGISTER["clauses"]}
INDEX = mi_catalog_index(CATALOG)


def test_every_clause_is_covered_or_out_of_scope():
    covered = {c for ctl in CATALOG["controls"] for c in ctl["clauses"]}
    out = {o["clause"] for o in CATALOG["out_of_scope"]}
    missing = sorted(set(CLAUSES) - covered - out)
    assert not missing, f"clauses of the register with no control and no out_of_scope reason: {missing}"


def test_controls_name_only_known_clauses():
    unknown = {ctl["id"]: sorted(set(ctl["clauses"]) - set(CLAUSES)) for ctl in CATALOG["controls"]}
    assert not {k: v for k, v in unknown.items() if v}


def test_out_of_scope_clauses_have_reasons_and_match_the_register():
    for entry in CATALOG["out_of_scope"]:
        assert entry["clause"] in CLAUSES
        assert entry["reason"].strip()
        assert CLAUSES[entry["clause"]]["nature"] == "out-of-scope", entry["clause"]


def test_procedural_clauses_have_an_attested_control():
    procedural = {cid for cid, c in CLAUSES.items() if c["nature"] == "procedural"}
    attested = {c for ctl in CATALOG["controls"] if ctl["automation"] == "attested" for c in ctl["clauses"]}
    assert procedural <= attested, sorted(procedural - attested)


def test_ids_are_unique():
    ids = [ctl["id"] for ctl in CATALOG["controls"]]
    assert len(ids) == len(set(ids)) == len(INDEX)


def test_roles_named_by_controls_exist():
    for ctl in CATALOG["controls"]:
        if ctl.get("role"):
            assert (ROOT / "roles" / ctl["role"] / "tasks/main.yml").is_file(), f"{ctl['id']}: no role {ctl['role']}"


def test_named_tests_exist():
    for ctl in CATALOG["controls"]:
        for ref in ctl.get("tests", []):
            path, func = ref.split("::")
            source = (ROOT / path).read_text()
            assert re.search(rf"^def {func}\(", source, re.M), f"{ctl['id']}: {ref} not found"


def test_implemented_controls_are_tagged_in_their_role():
    """A reader finds a control's enforcement by grepping its id in the role's tasks."""
    for ctl in CATALOG["controls"]:
        if ctl.get("role") and ctl["status"] == "implemented":
            tasks = "".join(p.read_text() for p in (ROOT / "roles" / ctl["role"] / "tasks").glob("*.yml"))
            assert re.search(rf"tags: \[[^\]]*\b{ctl['id']}\b", tasks), f"{ctl['id']} is not a tag in {ctl['role']}"
