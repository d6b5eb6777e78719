#!/usr/bin/env python3
"""Write each role's variable table into its README from meta/argument_specs.yml.

    scripts/gen_role_vars.py           update every roles/*/README.md
    scripts/gen_role_vars.py --check   exit 1 when a README's table is stale (the unit test)

The table goes between `<!-- BEGIN VARIABLES -->` and `<!-- END VARIABLES -->`; a README
without the markers gets them appended. argument_specs is the single source of truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN VARIABLES -->", "<!-- END VARIABLES -->"


def _cell(value: object) -> str:
    text = " ".join(value) if isinstance(value, list) else str(value)
    return text.replace("|", "\\|").replace("\n", " ").strip()


def table(role: Path) -> str:
    spec = yaml.safe_load((role / "meta/argument_specs.yml").read_text(encoding="utf-8"))["argument_specs"]["main"]
    rows = ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, opt in sorted((spec.get("options") or {}).items()):
        default = opt.get("default", "(required)" if opt.get("required") else "see defaults/main.yml")
        kind = opt.get("type", "str") + (f" of {opt['elements']}" if opt.get("elements") else "")
        if opt.get("choices"):
            kind += " (" + ", ".join(map(str, opt["choices"])) + ")"
        rows.append(f"| `{name}` | {kind} | `{_cell(yaml.safe_dump(default, default_flow_style=True).strip().removesuffix('...').strip())}` "
                    f"| {_cell(opt.get('description', ''))} |")
    return "\n".join([BEGIN, "<!-- generated from meta/argument_specs.yml by scripts/gen_role_vars.py -->", *rows, END])


def updated(readme: str, block: str) -> str:
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return readme.rstrip("\n") + "\n\n## Variables\n\n" + block + "\n"


def main() -> int:
    stale = []
    for role in sorted(p for p in (ROOT / "roles").iterdir() if (p / "meta/argument_specs.yml").is_file()):
        readme = role / "README.md"
        text = readme.read_text(encoding="utf-8") if readme.exists() else f"# Role {role.name}\n"
        new = updated(text, table(role))
        if new != text:
            stale.append(role.name)
            if "--check" not in sys.argv:
                readme.write_text(new, encoding="utf-8")
    if "--check" in sys.argv and stale:
        print("stale variable tables (run scripts/gen_role_vars.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
