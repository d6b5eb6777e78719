"""mi_audit: per-host, per-control compliance report from the results of the baseline's tasks.

Always loaded (it needs no enabling) and cheap: it keeps, per host and per control id found
in a task's tags, what the task found. It writes nothing unless the playbook has a play with
``vars: {mi_audit_report: true}`` (playbooks/audit.yml's last play): when that play starts,
the report (report.json, report.xml, report.html) is written to the directory that the
audit's first play announced with ``set_fact: audit_report`` and a summary is printed.

Statuses (docs/audit.md): compliant, drift, error, waived, attested, evidence_missing,
not_applicable. How task results map to them:
- a task tagged with a control id that would change something (check mode) -> drift, with
  the diff or the message as evidence; a failed task -> error; an ok task -> compliant;
- set_fact ``<role>_not_applicable: {ID: reason}`` -> not_applicable with the reason;
- set_fact ``<role>_drift: {ID: [messages]}`` -> drift when the list is not empty;
- set_fact ``<role>_waived: {ID: reason}`` -> waived (e.g. an open, approved Internet window);
- a valid waiver of the inventory -> waived; an expired one -> drift that says so;
- attested controls: valid evidence -> attested; missing or expired -> evidence_missing.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import hashlib
import html
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator
from xml.etree import ElementTree as ET

import yaml

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: mi_audit
type: aggregate
short_description: Per-control compliance report (JSON, JUnit, HTML) of an mi-harden audit
description:
  - Collects task results by the control ids in their tags and writes the audit report when
    the play marked C(mi_audit_report) starts. See docs/audit.md.
"""

ROOT = Path(__file__).resolve().parents[1]
CONTROL_RE = re.compile(r"^MI-[A-Z]+-\d{2}$")
STATUSES = ("compliant", "drift", "error", "waived", "attested", "evidence_missing", "not_applicable")
FINDINGS = ("drift", "error", "evidence_missing")  # the statuses an auditor must act on
SCHEMA_VERSION = 1
MAX_EVIDENCE_CHARS = 4000


# ----------------------------------------------------------------------------- pure logic
def load_catalog(root: Path = ROOT) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Return (catalog document, clause register by id). The register may be absent."""
    catalog = yaml.safe_load((root / "policy/controls.yml").read_text(encoding="utf-8"))
    clauses: dict[str, dict[str, Any]] = {}
    register = root / catalog.get("clause_register", "")
    if register.is_file():
        clauses = {c["id"]: c for c in yaml.safe_load(register.read_text(encoding="utf-8"))["clauses"]}
    return catalog, clauses


def _diff_text(diff: Any) -> str:
    """Render Ansible's diff structure(s) as unified diff text."""
    parts = diff if isinstance(diff, list) else [diff]
    out = []
    for d in parts:
        if not isinstance(d, dict):
            continue
        if "prepared" in d:
            out.append(str(d["prepared"]))
            continue
        before, after = d.get("before", ""), d.get("after", "")
        if isinstance(before, dict) or isinstance(after, dict):
            out.append(f"- {json.dumps(before, sort_keys=True, default=str)}\n+ {json.dumps(after, sort_keys=True, default=str)}")
            continue
        out.extend(difflib.unified_diff(
            str(before).splitlines(), str(after).splitlines(),
            fromfile=str(d.get("before_header", "before")), tofile=str(d.get("after_header", "after")),
            lineterm="", n=1))
    return "\n".join(out)[:MAX_EVIDENCE_CHARS]


def finding_from_result(task_name: str, status: str, result: dict[str, Any]) -> dict[str, str]:
    """One finding of one task for one host: ok, changed or failed, with its evidence."""
    detail = ""
    if status == "changed":
        items = result.get("results") if isinstance(result.get("results"), list) else [result]
        texts = [_diff_text(r["diff"]) for r in items if isinstance(r, dict) and r.get("diff")]
        detail = "\n".join(t for t in texts if t) or str(result.get("msg", "")) or "would change"
    elif status == "failed":
        detail = str(result.get("msg") or result.get("stderr") or result.get("reason") or "failed")
    return {"task": task_name, "result": status, "detail": detail[:MAX_EVIDENCE_CHARS]}


def _parse_date(value: Any) -> _dt.date | None:
    try:
        return _dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def control_status(
    control: dict[str, Any],
    findings: list[dict[str, str]],
    signals: dict[str, list[str]],
    waivers: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    today: _dt.date,
) -> tuple[str, list[dict[str, str]]]:
    """Status of one control on one host and the evidence that supports it.

    ``signals`` holds the messages of the role conventions for this control:
    ``not_applicable``, ``drift``, ``waived`` (lists of texts).
    """
    cid = control["id"]
    if control["automation"] == "attested":
        records = [e for e in evidence if e.get("control") == cid]
        valid = [e for e in records if (_parse_date(e.get("valid_until")) or _dt.date.min) >= today]
        if valid:
            return "attested", [{"task": "evidence", "result": "ok",
                                 "detail": f"{e['reference']} by {e['by']} on {e['date']}, valid until {e['valid_until']}"}
                                for e in valid]
        detail = ("evidence expired: " + ", ".join(f"{e['reference']} (valid until {e['valid_until']})" for e in records)
                  if records else "no evidence recorded in the inventory (mi_evidence)")
        return "evidence_missing", [{"task": "evidence", "result": "missing", "detail": detail}]

    ev = list(findings)
    ev += [{"task": "inspection", "result": "drift", "detail": m} for m in signals.get("drift", [])]
    ev += [{"task": "not applicable", "result": "not_applicable", "detail": m} for m in signals.get("not_applicable", [])]
    if any(f["result"] == "failed" for f in findings):
        status = "error"
    elif any(f["result"] == "changed" for f in findings) or signals.get("drift"):
        status = "drift"
    elif signals.get("not_applicable"):
        status = "not_applicable"
    elif any(f["result"] == "ok" for f in findings):
        status = "compliant"
    else:
        status = "evidence_missing"
        ev.append({"task": "run", "result": "missing",
                   "detail": "no task of this run checked this control (switched off or not selected)"})

    for reason in signals.get("waived", []):
        ev.append({"task": "temporary exception", "result": "waived", "detail": reason})
        status = "waived"
    for w in (w for w in waivers if w.get("control") == cid):
        expires = _parse_date(w.get("expires")) or _dt.date.min
        if expires >= today:
            ev.append({"task": "waiver", "result": "waived",
                       "detail": f"{w['reason']} (approved by {w['approver']}, expires {w['expires']}); finding: {status}"})
            status = "waived"
        else:
            ev.append({"task": "waiver", "result": "expired",
                       "detail": f"waiver expired on {w['expires']}: {w['reason']} (approved by {w['approver']})"})
            status = "drift" if status != "error" else status
    return status, ev


def build_report(
    catalog: dict[str, Any],
    clauses: dict[str, dict[str, Any]],
    hosts: dict[str, dict[str, Any]],
    today: _dt.date,
    generated: str,
) -> dict[str, Any]:
    """Assemble report.json from what was collected per host.

    ``hosts[name]`` holds: findings {control: [finding]}, signals {control: {kind: [msg]}},
    policy (the policy role's checked policy), waivers (the host's), register (inventory of
    the terminal), unreachable (bool).
    """
    controls = [c for c in catalog["controls"] if c["status"] == "implemented"]
    out_hosts: dict[str, Any] = {}
    site_names: dict[str, str] = {}
    for name in sorted(hosts):
        h = hosts[name]
        policy = h.get("policy") or {}
        site = (policy.get("mi_site") or {}).get("id", "unknown")
        site_names.setdefault(site, (policy.get("mi_site") or {}).get("name", site))
        host_controls = {}
        for c in controls:
            if h.get("unreachable"):
                status, ev = "error", [{"task": "connection", "result": "failed", "detail": h.get("unreachable_msg", "unreachable")}]
            else:
                status, ev = control_status(c, h.get("findings", {}).get(c["id"], []), h.get("signals", {}).get(c["id"], {}),
                                            h.get("waivers", []), policy.get("mi_evidence", []), today)
            host_controls[c["id"]] = {
                "status": status,
                "title": c["title"],
                "title_zh": c["title_zh"],
                "severity": c["severity"],
                "automation": c["automation"],
                "clauses": list(c["clauses"]),
                "evidence": ev,
            }
        counts = {s: sum(1 for v in host_controls.values() if v["status"] == s) for s in STATUSES}
        out_hosts[name] = {
            "site": site,
            "policy_version": policy.get("mi_policy_version"),
            "summary": counts,
            "controls": host_controls,
            "register": h.get("register") or {},
        }
    return assemble_report(catalog, clauses, out_hosts, site_names, len(controls), generated)


def summarise(hosts: dict[str, Any], site_names: dict[str, str], n_controls: int) -> dict[str, Any]:
    """The report's summary from its host entries: counts per status, per site."""
    totals = {s: 0 for s in STATUSES}
    sites: dict[str, dict[str, Any]] = {}
    for name, h in hosts.items():
        site = sites.setdefault(h["site"], {"name": site_names.get(h["site"], h["site"]), "hosts": [],
                                            "counts": {s: 0 for s in STATUSES}})
        site["hosts"].append(name)
        for c in h["controls"].values():
            totals[c["status"]] += 1
            site["counts"][c["status"]] += 1
    return {"hosts": len(hosts), "controls": n_controls, "statuses": totals, "sites": sites,
            "drift_or_error": totals["drift"] + totals["error"]}


def site_key(site_id: str) -> str:
    """A site id as a file name (the directory of its report under sites/): the id itself when
    it is one (letters, digits, _ . -), else its safe characters and a short hash of the id,
    so that ids differing only in other characters (第一医院, 第二医院) keep apart."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", site_id).lstrip(".")
    if safe == site_id and safe:
        return safe
    return f"{safe.strip('_') or 'site'}-{hashlib.sha256(site_id.encode()).hexdigest()[:8]}"


def site_reports(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One report per site of a (fleet) report: the same schema, the site's hosts only, its
    own summary; keyed by a file-name-safe form of the site id."""
    out = {}
    n_controls = report["summary"]["controls"]
    for site_id, site in report["summary"]["sites"].items():
        hosts = {h: report["hosts"][h] for h in site["hosts"]}
        versions = sorted({v["policy_version"] for v in hosts.values() if v["policy_version"]})
        out[site_key(site_id)] = dict(report, hosts=hosts, policy_version=versions[0] if len(versions) == 1 else versions,
                                      summary=summarise(hosts, {site_id: site["name"]}, n_controls))
    return out


def assemble_report(
    catalog: dict[str, Any],
    clauses: dict[str, dict[str, Any]],
    hosts: dict[str, Any],
    site_names: dict[str, str],
    n_controls: int,
    generated: str,
) -> dict[str, Any]:
    """report.json around finished host entries (an audit's, or a fleet's collected ones)."""
    versions = sorted({v["policy_version"] for v in hosts.values() if v["policy_version"]})
    return {
        "schema_version": SCHEMA_VERSION,
        "generated": generated,
        "policy": catalog["policy"],
        "catalog_version": str(catalog["version"]),
        "policy_version": versions[0] if len(versions) == 1 else versions,
        "hosts": hosts,
        "summary": summarise(hosts, site_names, n_controls),
        "planned_controls": [{"id": c["id"], "title": c["title"], "issue": c.get("issue")}
                             for c in catalog["controls"] if c["status"] == "planned"],
        "clauses": {cid: {"quote": c.get("quote", ""), "requirement": c.get("requirement", ""), "source": c.get("source", "")}
                    for cid, c in clauses.items()},
    }


def fleet_report(
    reports: list[dict[str, Any]],
    expected: list[str],
    catalog: dict[str, Any],
    clauses: dict[str, dict[str, Any]],
    now: _dt.datetime,
    max_age_hours: float,
) -> dict[str, Any]:
    """One fleet report from the reports the terminals wrote themselves (pull mode).

    The newest report of each host wins. The controls are the catalog's implemented ones
    (and any other a terminal still reports); one a terminal's report lacks (an older
    checkout) is evidence_missing. MI-AUDIT-01 of each host records when its report was
    made and is drift when it is older than ``max_age_hours``. A host of ``expected``
    without any report is in error for every control.
    """
    newest: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    for rep in reports:
        for name, h in rep.get("hosts", {}).items():
            if name not in newest or rep["generated"] > newest[name][0]:
                newest[name] = (rep["generated"], h, rep)
    meta = {c["id"]: {k: c[k] for k in ("title", "title_zh", "severity", "automation", "clauses")}
            for c in catalog["controls"] if c["status"] == "implemented"}
    for _, h, _ in newest.values():
        for cid, c in h["controls"].items():
            meta.setdefault(cid, {k: c[k] for k in ("title", "title_zh", "severity", "automation", "clauses")})
    generated = now.replace(microsecond=0).isoformat()
    out: dict[str, Any] = {}
    site_names: dict[str, str] = {}
    for name in sorted(set(newest) | set(expected)):
        if name not in newest:
            missing = {name: {"unreachable": True, "unreachable_msg": "no report collected from this terminal"}}
            out[name] = build_report(catalog, clauses, missing, now.date(), generated)["hosts"][name]
            continue
        made, h, rep = newest[name]
        site_names.setdefault(h["site"], rep["summary"]["sites"].get(h["site"], {}).get("name", h["site"]))
        controls = {}
        for cid, m in meta.items():
            # A copy of the entry and of its evidence list (MI-AUDIT-01's is appended to below):
            # the strings stay shared with the parsed report (a fleet holds thousands).
            c = dict(h["controls"][cid], evidence=list(h["controls"][cid]["evidence"])) if cid in h["controls"] else dict(
                m, status="evidence_missing",
                evidence=[{"task": "collection", "result": "missing",
                           "detail": f"not in this terminal's report (its catalog {rep['catalog_version']})"}])
            controls[cid] = c
        audit = controls.get("MI-AUDIT-01")
        if audit is not None:
            age = (now - _dt.datetime.fromisoformat(made.replace("Z", "+00:00"))).total_seconds() / 3600.0
            if age > float(max_age_hours):
                audit["evidence"].append({"task": "collection", "result": "drift",
                                          "detail": f"newest report is {age:.0f} h old ({made}); at most {max_age_hours} h"})
                if audit["status"] not in ("error", "waived"):
                    audit["status"] = "drift"
            else:
                audit["evidence"].append({"task": "collection", "result": "ok", "detail": f"report made on the terminal at {made}"})
        out[name] = dict(h, controls=controls,
                         summary={s: sum(1 for c in controls.values() if c["status"] == s) for s in STATUSES})
    return assemble_report(catalog, clauses, out, site_names, len(meta), generated)


JUNIT_KIND = {"drift": "failures", "evidence_missing": "failures", "error": "errors",
              "waived": "skipped", "not_applicable": "skipped"}


def _junit_counts(h: dict[str, Any]) -> dict[str, int]:
    counts = {"tests": len(h["controls"]), "failures": 0, "errors": 0, "skipped": 0}
    for c in h["controls"].values():
        if c["status"] in JUNIT_KIND:
            counts[JUNIT_KIND[c["status"]]] += 1
    return counts


def _junit_suite(host: str, h: dict[str, Any]) -> ET.Element:
    """One host's testsuite: one testcase per control."""
    suite = ET.Element("testsuite", name=host)
    for cid, c in h["controls"].items():
        case = ET.SubElement(suite, "testcase", classname=f"{h['site']}.{host}", name=f"{cid} {c['title']}")
        text = "\n".join(f"[{e['result']}] {e['task']}: {e['detail']}" for e in c["evidence"])
        kind = JUNIT_KIND.get(c["status"])
        if kind == "failures":
            ET.SubElement(case, "failure", message=c["status"], type=c["status"]).text = text
        elif kind == "errors":
            ET.SubElement(case, "error", message="error", type="error").text = text
        elif kind == "skipped":
            ET.SubElement(case, "skipped", message=f"{c['status']}: {c['evidence'][-1]['detail'][:200] if c['evidence'] else ''}")
        else:
            ET.SubElement(case, "system-out").text = text
    for k, v in _junit_counts(h).items():
        suite.set(k, str(v))
    return suite


def iter_junit(report: dict[str, Any]) -> Iterator[str]:
    """JUnit XML, one testsuite per host, one testcase per control, in pieces: one host's
    suite at a time, so that a fleet's file is written without its whole tree in memory
    (5000 terminals: 436 MiB). The bytes are those of the whole tree indented by ElementTree."""
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for h in report["hosts"].values():
        for k, v in _junit_counts(h).items():
            totals[k] += v
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="mi-harden audit" ' + " ".join(
        f'{k}="{v}"' for k, v in totals.items())
    if not report["hosts"]:
        yield head + " />\n"
        return
    yield head + ">"
    for host, h in report["hosts"].items():
        suite = _junit_suite(host, h)
        ET.indent(suite, level=1)
        yield "\n  " + ET.tostring(suite, encoding="unicode")
    yield "\n</testsuites>\n"


def render_junit(report: dict[str, Any]) -> str:
    """JUnit XML: one testsuite per host, one testcase per control."""
    return "".join(iter_junit(report))


LABELS = {
    "zh": {
        "title": "医保终端安全合规审计报告", "generated": "生成时间", "policy": "策略版本", "catalog": "控制项目录",
        "summary": "各站点汇总", "site": "站点", "hosts": "终端数", "matrix": "终端 × 控制项 合规矩阵",
        "host": "终端", "details": "控制项说明", "clauses": "对应制度条款", "evidence": "审计证据",
        "register": "终端登记信息", "planned": "计划中的控制项(尚未实施,不计入结论)", "sign": "审计签字",
        "auditor": "审计人", "date": "日期", "status": "状态", "severity": "等级",
        "compliant": "合规", "drift": "偏离", "error": "错误", "waived": "豁免", "attested": "已证明",
        "evidence_missing": "缺少证据", "not_applicable": "不适用",
        "overview": "医保终端安全合规概览", "with_findings": "有问题的终端", "in_error": "全部控制项错误的终端",
        "control": "控制项", "findings": "问题清单", "finding": "说明", "site_report": "站点报告",
        "overview_note": "本页只列计数和问题(偏离、错误、缺少证据);每个终端的全部证据见完整报告 report.html 和各站点报告。",
        "in_error_note": "以下终端所有控制项均为错误(未收集到报告、无法连接或审计本身失败),详见完整报告,不在问题清单中逐项列出:",
    },
    "en": {
        "title": "Medical insurance terminal compliance audit report", "generated": "Generated", "policy": "Policy version",
        "catalog": "Control catalog", "summary": "Summary per site", "site": "Site", "hosts": "Terminals",
        "matrix": "Terminal x control matrix", "host": "Terminal", "details": "Controls", "clauses": "Policy clauses",
        "evidence": "Evidence", "register": "Terminal register", "planned": "Planned controls (not yet implemented, not counted)",
        "sign": "Sign-off", "auditor": "Auditor", "date": "Date", "status": "Status", "severity": "Severity",
        "compliant": "compliant", "drift": "drift", "error": "error", "waived": "waived", "attested": "attested",
        "evidence_missing": "evidence missing", "not_applicable": "not applicable",
        "overview": "Medical insurance terminal compliance overview", "with_findings": "Terminals with findings",
        "in_error": "Terminals in error on every control", "control": "Control", "findings": "Findings",
        "finding": "Finding", "site_report": "Site report",
        "overview_note": "Counts and findings (drift, error, missing evidence) only; every terminal's full evidence is "
                         "in report.html and the per-site reports.",
        "in_error_note": "These terminals are in error on every control (no report collected, unreachable, or their "
                         "audit failed; the full report says which) and are not listed control by control below:",
    },
}
COLOURS = {"compliant": "#2e7d32", "drift": "#c62828", "error": "#6a1b9a", "waived": "#ef6c00", "attested": "#1565c0",
           "evidence_missing": "#ad1457", "not_applicable": "#757575"}


# What report.html and overview.html share: the page's start and common style, the line under
# the title, the status column heads, the sign-off box.
PAGE_CSS = ('body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}\n'
            "table{border-collapse:collapse;margin:1em 0} th,td{border:1px solid #ccc;padding:4px 6px;font-size:13px}\n")
DOT_CSS = ".dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}\n"
SIGN_CSS = ".sign td{height:2.5em;min-width:14em}\n"


def _page_start(title: str, lang: str, css: str) -> str:
    """From <!DOCTYPE> to </head>: the common style, then the page's own ``css`` lines."""
    return (f'<!DOCTYPE html>\n<html lang="{"en" if lang == "en" else "zh-CN"}"><head><meta charset="utf-8">\n'
            f"<title>{title}</title>\n<style>\n{PAGE_CSS}{css}</style></head>\n")


def _about(t: dict[str, str], doc: dict[str, Any]) -> str:
    """The line under the title: when, which policy version(s), which catalog."""
    e = html.escape
    pv = doc["policy_version"] if isinstance(doc["policy_version"], str) else ", ".join(doc["policy_version"])
    return (f"<p>{t['generated']}: {e(doc['generated'])} · {t['policy']}: {e(str(pv))} · "
            f"{t['catalog']}: {e(doc['policy'])} {e(doc['catalog_version'])}</p>")


def _status_heads(t: dict[str, str]) -> str:
    return "".join(f"<th><span class='dot' style='background:{COLOURS[s]}'></span>{t[s]}</th>" for s in STATUSES)


def _sign_off(t: dict[str, str]) -> str:
    return (f"<h2>{t['sign']}</h2><table class=\"sign\"><tr><th>{t['auditor']}</th><td></td>"
            f"<th>{t['date']}</th><td></td></tr></table>")


def iter_html(report: dict[str, Any], lang: str = "zh") -> Iterator[str]:
    """report.html in pieces (a matrix row, a host's evidence of a control, a host's register at a
    time), so that a fleet's page is written without the whole page in memory (5000
    terminals: 1 GiB). ``render_html`` joins them."""
    t = LABELS["en" if lang == "en" else "zh"]
    e = html.escape
    first = next(iter(report["hosts"].values()), {"controls": {}})
    ids = list(first["controls"])

    def ctl_title(c: dict[str, Any]) -> str:
        return f"{c['title_zh']} / {c['title']}" if lang != "en" else f"{c['title']} / {c['title_zh']}"

    rows = []
    for site_id, site in report["summary"]["sites"].items():
        cells = "".join(f"<td>{site['counts'][s]}</td>" for s in STATUSES)
        rows.append(f"<tr><td>{e(site_id)}</td><td>{e(str(site['name']))}</td><td>{len(site['hosts'])}</td>{cells}</tr>")
    summary = (f"<table class='summary'><tr><th>{t['site']}</th><th></th><th>{t['hosts']}</th>"
               + _status_heads(t) + "</tr>" + "".join(rows) + "</table>")
    head = "".join(f"<th class='cid' title='{e(first['controls'][c]['title'])}'><a href='#{c}'>{c}</a></th>" for c in ids)
    planned = "".join(f"<li>{e(p['id'])} {e(p['title'])}</li>" for p in report["planned_controls"])
    yield _page_start(t["title"], lang,
                      "td.cell{color:#fff;text-align:center;cursor:pointer} th.cid{writing-mode:vertical-rl;font-weight:normal}\n"
                      + DOT_CSS + "pre{white-space:pre-wrap;background:#f6f6f6;padding:4px;max-height:20em;overflow:auto}\n"
                      + "section.control{border-top:1px solid #ddd;margin-top:1em} " + SIGN_CSS)
    yield f"""<body data-ready="0" data-errors="">
<h1>{t['title']}</h1>
{_about(t, report)}
<h2>{t['summary']}</h2>{summary}
<h2>{t['matrix']}</h2><table class='matrix' id='matrix'><tr><th>{t['host']}</th>{head}</tr>"""
    for host, h in report["hosts"].items():
        cells = "".join(
            f"<td class='cell {h['controls'][c]['status']}' data-status='{h['controls'][c]['status']}' "
            f"title='{e(host)} {c}: {t[h['controls'][c]['status']]}' style='background:{COLOURS[h['controls'][c]['status']]}'>"
            f"{e(t[h['controls'][c]['status']])}</td>" for c in ids)
        yield f"<tr class='host' data-host='{e(host)}'><th>{e(host)}<br><small>{e(h['site'])}</small></th>{cells}</tr>"
    yield f"</table>\n<h2>{t['details']}</h2>"
    for c in ids:
        meta = first["controls"][c]
        cl = "".join(
            f"<li><b>{e(k)}</b>: {e(report['clauses'].get(k, {}).get('quote', ''))}"
            f"<br><small>{e(report['clauses'].get(k, {}).get('requirement', ''))}</small></li>" for k in meta["clauses"])
        yield (f"<section class='control' id='{c}'><h3>{c} {e(ctl_title(meta))}</h3>"
               f"<p>{t['severity']}: {e(meta['severity'])} · {e(meta['automation'])}</p>"
               f"<h4>{t['clauses']}</h4><ul>{cl}</ul><h4>{t['evidence']}</h4>")
        for host, h in report["hosts"].items():
            hc = h["controls"][c]
            lines = "".join(f"<li>[{e(x['result'])}] {e(x['task'])}<pre>{e(x['detail'])}</pre></li>" if x["detail"]
                            else f"<li>[{e(x['result'])}] {e(x['task'])}</li>" for x in hc["evidence"])
            yield (f"<details><summary><span class='dot' style='background:{COLOURS[hc['status']]}'></span>"
                   f"{e(host)}: {e(t[hc['status']])}</summary><ul>{lines}</ul></details>")
        yield "</section>"
    yield f"\n<h2>{t['register']}</h2>"
    for host, h in report["hosts"].items():
        yield f"<details><summary>{e(host)}</summary><pre>{e(json.dumps(h['register'], ensure_ascii=False, indent=2))}</pre></details>"
    yield f"""
<h2>{t['planned']}</h2><ul>{planned}</ul>
{_sign_off(t)}
<script>
window.addEventListener("error", function (ev) {{
  document.body.dataset.errors += (ev.message || "error") + ";";
}});
document.querySelectorAll("#matrix td.cell").forEach(function (cell, i) {{
  cell.addEventListener("click", function () {{
    var id = document.querySelectorAll("#matrix th.cid")[cell.cellIndex - 1].textContent;
    document.getElementById(id).scrollIntoView();
  }});
}});
document.body.dataset.ready = "1";
</script>
</body></html>
"""


def render_html(report: dict[str, Any], lang: str = "zh") -> str:
    """One self-contained page (inline CSS and script, no external resource)."""
    return "".join(iter_html(report, lang))


SUMMARY_HOSTS = 50  # hosts listed by name in the printed summary; the report lists every one


def summary_lines(report: dict[str, Any], max_hosts: int = SUMMARY_HOSTS) -> list[str]:
    """The short terminal summary printed at the end of an audit: the counts, then one line
    per host up to ``max_hosts`` hosts (a fleet of thousands gets a count of the rest)."""
    s = report["summary"]["statuses"]
    lines = [f"mi-harden audit: {report['summary']['hosts']} host(s) x {report['summary']['controls']} control(s): "
             + ", ".join(f"{k} {v}" for k, v in s.items() if v)]
    rest = with_findings = 0
    for i, (host, h) in enumerate(report["hosts"].items()):
        bad = [f"{cid} {c['status']}" for cid, c in h["controls"].items() if c["status"] in FINDINGS]
        if i < max_hosts:
            lines.append(f"  {host}: " + (", ".join(bad) if bad else "no drift"))
        else:
            rest += 1
            with_findings += bool(bad)
    if rest:
        lines.append(f"  ... {rest} more host(s), {with_findings} of them with drift, error or missing evidence"
                     " (the report lists every host)")
    return lines


OVERVIEW_DETAIL_CHARS = 200  # one finding's text in the overview; the report keeps the whole evidence


def _finding_text(evidence: list[dict[str, str]]) -> str:
    """The first evidence item that is not ok, on one line and short: what the overview shows."""
    for x in evidence:
        if x["result"] not in ("ok", "waived", "not_applicable"):
            text = " ".join(f"{x['task']}: {x['detail']}".split()) if x["detail"] else x["task"]
            return text if len(text) <= OVERVIEW_DETAIL_CHARS else text[:OVERVIEW_DETAIL_CHARS - 1] + "…"
    return ""


def overview(report: dict[str, Any]) -> dict[str, Any]:
    """The fleet at a glance: counts per site and per control, and each control's findings
    (drift, error, evidence missing) grouped by what was found (status and one line of
    evidence) with the terminals and sites that have it, without the evidence of what is in
    order. The same finding on a thousand terminals is one group of a thousand names. A
    terminal in error on every control (no report collected, unreachable, an audit that
    failed) is listed once, not once per control."""
    hosts = report["hosts"]
    in_error = [h for h, v in hosts.items() if v["controls"] and all(c["status"] == "error" for c in v["controls"].values())]
    skip = set(in_error)
    controls: dict[str, dict[str, Any]] = {}
    with_findings: dict[str, int] = {}
    for name, h in hosts.items():
        found = False
        for cid, c in h["controls"].items():
            entry = controls.get(cid)
            if entry is None:
                entry = controls[cid] = {k: c[k] for k in ("title", "title_zh", "severity")}
                entry.update(counts=dict.fromkeys(STATUSES, 0), findings={})
            entry["counts"][c["status"]] += 1
            if c["status"] in FINDINGS:
                found = True
                if name not in skip:
                    key = (c["status"], _finding_text(c["evidence"]))
                    group = entry["findings"].setdefault(key, {"status": key[0], "detail": key[1], "hosts": [], "sites": []})
                    group["hosts"].append(name)
                    if h["site"] not in group["sites"]:
                        group["sites"].append(h["site"])
        with_findings[h["site"]] = with_findings.get(h["site"], 0) + found
    for entry in controls.values():  # the most widespread finding first
        entry["findings"] = sorted(entry["findings"].values(), key=lambda g: (-len(g["hosts"]), g["status"], g["detail"]))
    summary = report["summary"]
    sites = {sid: {"name": s["name"], "key": site_key(sid), "hosts": len(s["hosts"]),
                   "with_findings": with_findings.get(sid, 0),
                   "in_error": sum(1 for h in s["hosts"] if h in skip), "counts": s["counts"]}
             for sid, s in summary["sites"].items()}
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "overview",
        "generated": report["generated"],
        "policy": report["policy"],
        "catalog_version": report["catalog_version"],
        "policy_version": report["policy_version"],
        "hosts": summary["hosts"],
        "controls_per_host": summary["controls"],
        "with_findings": sum(with_findings.values()),
        "statuses": summary["statuses"],
        "sites": sites,
        "controls": controls,
        "in_error": in_error,
    }


def render_overview(ov: dict[str, Any], lang: str = "zh", site_links: bool = False) -> str:
    """overview.html: one small self-contained page (no script); with ``site_links`` each site
    links to its report, sites/<key>/report.html."""
    t = LABELS["en" if lang == "en" else "zh"]
    e = html.escape
    dots = _status_heads(t)

    def counts(c: dict[str, int]) -> str:
        return "".join(f"<td class='n{' bad' if s in FINDINGS and c[s] else ''}'>{c[s]}</td>" for s in STATUSES)

    def title(c: dict[str, Any]) -> str:
        return f"{c['title_zh']} / {c['title']}" if lang != "en" else f"{c['title']} / {c['title_zh']}"

    def ref(cid: str) -> str:  # a control with findings links to them
        return f"<a href='#{cid}'>{cid}</a>"

    def names(hosts: list[str]) -> str:  # a long list folded, the first few shown
        text = e(", ".join(hosts))
        return text if len(hosts) <= 10 else f"<details><summary>{e(', '.join(hosts[:5]))}, …</summary>{text}</details>"

    srows = []
    for sid, s in ov["sites"].items():
        link = (f"<td><a href='sites/{e(s['key'])}/report.html'>{t['site_report']}</a></td>" if site_links else "")
        srows.append(f"<tr><td>{e(sid)}</td><td>{e(str(s['name']))}</td><td class='n'>{s['hosts']}</td>"
                     f"<td class='n'>{s['with_findings']}</td><td class='n'>{s['in_error']}</td>{counts(s['counts'])}{link}</tr>")
    sites = (f"<table><tr><th>{t['site']}</th><th></th><th>{t['hosts']}</th><th>{t['with_findings']}</th>"
             f"<th>{t['in_error']}</th>{dots}{'<th></th>' if site_links else ''}</tr>{''.join(srows)}</table>")
    crows = "".join(f"<tr><td>{ref(cid) if c['findings'] else cid}</td><td>{e(title(c))}</td>"
                    f"<td>{e(c['severity'])}</td>{counts(c['counts'])}</tr>" for cid, c in ov["controls"].items())
    controls = f"<table><tr><th>{t['control']}</th><th></th><th>{t['severity']}</th>{dots}</tr>{crows}</table>"
    findings = []
    for cid, c in ov["controls"].items():
        if not c["findings"]:
            continue
        rows = "".join(f"<tr><td><span class='dot' style='background:{COLOURS[g['status']]}'></span>{t[g['status']]}</td>"
                       f"<td>{e(g['detail'])}</td><td class='n'>{len(g['hosts'])}</td><td>{e(', '.join(g['sites']))}</td>"
                       f"<td>{names(g['hosts'])}</td></tr>" for g in c["findings"])
        findings.append(f"<section id='{cid}'><h3>{cid} {e(title(c))}</h3><table><tr><th>{t['status']}</th>"
                        f"<th>{t['finding']}</th><th>{t['hosts']}</th><th>{t['site']}</th><th>{t['host']}</th></tr>"
                        f"{rows}</table></section>")
    in_error = (f"<p>{t['in_error_note']}</p><ul>{''.join(f'<li>{e(h)}</li>' for h in ov['in_error'])}</ul>"
                if ov["in_error"] else "")
    totals = ", ".join(f"{t[s]} {n}" for s, n in ov["statuses"].items() if n)
    css = "td.n{text-align:right} td.bad{color:#c62828;font-weight:bold} td:first-child{white-space:nowrap}\n"
    return _page_start(t["overview"], lang, css + DOT_CSS + SIGN_CSS) + f"""<body>
<h1>{t['overview']}</h1>
{_about(t, ov)}
<p class="totals">{t['hosts']}: {ov['hosts']} · {t['with_findings']}: {ov['with_findings']} · {t['in_error']}: {len(ov['in_error'])} · {e(totals)}</p>
<p>{t['overview_note']}</p>
<h2>{t['summary']}</h2>{sites}
<h2>{t['details']}</h2>{controls}
<h2>{t['findings']}</h2>{in_error}{''.join(findings)}
{_sign_off(t)}
</body></html>
"""


def write_overview(report: dict[str, Any], directory: str, lang: str, site_links: bool = False) -> list[str]:
    """Write overview.json and overview.html of a (fleet) report; return their paths."""
    ov = overview(report)
    return _write_files(directory, (("overview.json", [json.dumps(ov, ensure_ascii=False, indent=2), "\n"]),
                                    ("overview.html", [render_overview(ov, lang, site_links)])))


def iter_json(obj: Any, chunk: int = 4096) -> Iterator[str]:
    """``json.dumps(obj, ensure_ascii=False, indent=2)`` in pieces of at least ``chunk`` tokens
    (cut between the members of the top two levels: a report's hosts).

    Python's encoder has no C path with indentation; its pure-Python one nests a generator per
    level (report.json of 5000 terminals: 9.5 s). This one appends to a list and encodes the
    strings with the same C function: the same text in less than half the time
    (tests/unit/test_mi_audit.py compares the two), and in pieces, so a fleet's file is
    written without all of it in memory.
    """
    out: list[str] = []
    put = out.append
    enc = json.encoder.encode_basestring  # type: ignore[attr-defined]

    def scalar(o: Any) -> str:
        if isinstance(o, str):
            return enc(o)
        if o is None:
            return "null"
        if o is True:
            return "true"
        if o is False:
            return "false"
        if isinstance(o, int):
            return int.__repr__(o)
        if isinstance(o, float):
            return "NaN" if o != o else "Infinity" if o == float("inf") else "-Infinity" if o == -float("inf") \
                else float.__repr__(o)
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    def key(k: Any) -> str:
        return enc(k) if isinstance(k, str) else enc(scalar(k)) if k is None or isinstance(k, (int, float)) \
            else scalar(k)

    def members(o: Any, level: int) -> tuple[Iterator[tuple[str, Any]], str] | None:
        """A non-empty container's (text before each member, member) and its closing text;
        None once anything else is written."""
        nl = "\n" + "  " * (level + 1)
        if isinstance(o, dict) and o:
            return (((("{" if i == 0 else ",") + nl + key(k) + ": ", v) for i, (k, v) in enumerate(o.items())),
                    "\n" + "  " * level + "}")
        if isinstance(o, (list, tuple)) and o:
            return ((("[" if i == 0 else ",") + nl, v) for i, v in enumerate(o)), "\n" + "  " * level + "]"
        put("{}" if isinstance(o, dict) else "[]" if isinstance(o, (list, tuple)) else scalar(o))
        return None

    def whole(o: Any, level: int) -> None:
        # members() unrolled: this runs for every value of every host
        if isinstance(o, dict) and o:
            nl, sep = "\n" + "  " * (level + 1), "{"
            for k, v in o.items():
                put(sep + nl + key(k) + ": ")
                sep = ","
                whole(v, level + 1)
            put("\n" + "  " * level + "}")
        elif isinstance(o, (list, tuple)) and o:
            nl, sep = "\n" + "  " * (level + 1), "["
            for v in o:
                put(sep + nl)
                sep = ","
                whole(v, level + 1)
            put("\n" + "  " * level + "]")
        else:
            put(scalar(o) if not isinstance(o, (dict, list, tuple)) else "{}" if isinstance(o, dict) else "[]")

    def pieces(o: Any, level: int) -> Iterator[str]:
        # the top two levels (the report, its hosts) in pieces, each host's entry whole
        m = members(o, level)
        if m is not None:
            for before, v in m[0]:
                put(before)
                if level < 1:
                    yield from pieces(v, level + 1)
                else:
                    whole(v, level + 1)
                if len(out) >= chunk:
                    yield "".join(out)
                    out.clear()
            put(m[1])

    yield from pieces(obj, 0)
    yield "".join(out)


def _write_files(directory: str, files: Iterable[tuple[str, Iterable[str]]]) -> list[str]:
    """Write each (name, pieces of its text) in ``directory``; return the paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, parts in files:
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(parts)
        paths.append(path)
    return paths


def write_report(report: dict[str, Any], directory: str, lang: str) -> list[str]:
    """Write the three report files; return their paths.

    Each in pieces, never its whole text in memory: json.dumps with indent joins one list of
    every token (1000 terminals: the process peak 250 -> 658 MiB), and for 5000 terminals the
    whole XML and HTML took it from 580 MiB to 1.7 GiB (docs/BENCHMARKS.md, "Session 10").
    The bytes are the same as the whole texts'.
    """
    return _write_files(directory, (("report.json", itertools.chain(iter_json(report), ["\n"])),
                                    ("report.xml", iter_junit(report)),
                                    ("report.html", iter_html(report, lang))))


# ----------------------------------------------------------------------------- callback
class CallbackModule(CallbackBase):
    """Collect per-control findings; write the report when the report play starts."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "mi_audit"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hosts: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = {}

    def _host(self, name: str) -> dict[str, Any]:
        return self.hosts.setdefault(name, {"findings": {}, "signals": {}, "waivers": [], "policy": None, "register": None})

    def _record(self, result: Any, status: str) -> None:
        host_name = result._host.get_name()
        res = result._result if isinstance(result._result, dict) else {}
        facts = res.get("ansible_facts") or {}
        if "audit_report" in facts and isinstance(facts["audit_report"], dict):
            self.settings = dict(facts["audit_report"])
        ids = [t for t in (result._task.tags or []) if CONTROL_RE.match(str(t))]
        h = None
        for key, value in facts.items():
            if key == "policy_checked" and isinstance(value, dict):
                h = h or self._host(host_name)
                h["policy"] = value
            elif key == "policy_waivers" and isinstance(value, list):
                h = h or self._host(host_name)
                h["waivers"] = value
            elif key == "terminal_register_inventory" and isinstance(value, dict):
                h = h or self._host(host_name)
                h["register"] = value
            else:
                for kind in ("not_applicable", "drift", "waived"):
                    if key.endswith("_" + kind) and isinstance(value, dict):
                        h = h or self._host(host_name)
                        for cid, msgs in value.items():
                            msgs = msgs if isinstance(msgs, list) else [msgs]
                            bucket = h["signals"].setdefault(str(cid), {}).setdefault(kind, [])
                            bucket.extend(str(m) for m in msgs if m)
                            if kind == "drift":  # an inspection ran for this control
                                h["findings"].setdefault(str(cid), []).append(
                                    {"task": result._task.get_name(), "result": "ok", "detail": ""})
        if not ids or status == "skipped":
            return
        h = h or self._host(host_name)
        finding = finding_from_result(result._task.get_name(), status, res)
        for cid in ids:
            h["findings"].setdefault(cid, []).append(finding)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, "ok" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        h = self._host(result._host.get_name())
        h["unreachable"] = True
        h["unreachable_msg"] = str(result._result.get("msg", "unreachable"))

    def v2_playbook_on_play_start(self, play: Any) -> None:
        if not (play.vars or {}).get("mi_audit_report"):
            return
        if not self.settings.get("dir"):
            self._display.warning("mi_audit: report play reached, but no audit_report fact named the directory")
            return
        catalog, clauses = load_catalog()
        hosts = {k: v for k, v in self.hosts.items() if k != "localhost" and (v.get("policy") or v.get("unreachable"))}
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        report = build_report(catalog, clauses, hosts, now.date(), now.isoformat())
        paths = write_report(report, self.settings["dir"], self.settings.get("lang", "zh"))
        for line in summary_lines(report):
            self._display.display(line)
        self._display.display("mi-harden audit report: " + ", ".join(paths))
