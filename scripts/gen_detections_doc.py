"""Write docs/detections.md from the data that defines the detections.

The per-rule sections come from ``src/wormsign/detect/rules/*.yaml`` (id, title, ATT&CK,
severity, explanation, the ``$name`` thresholds its SQL binds, the working tables it reads),
the threshold table from ``src/wormsign/detect/config.yaml`` and the Sigma tables from
``src/wormsign/detect/sigma/rules`` and ``settings.yaml``. The prose around them (baseline,
fusion, tuning) is kept here, next to the code it describes.

    .venv/bin/python scripts/gen_detections_doc.py          # rewrite docs/detections.md
    .venv/bin/python scripts/gen_detections_doc.py --check  # exit 1 when it is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DETECT = ROOT / "src" / "wormsign" / "detect"
RULES = DETECT / "rules"
CONFIG = DETECT / "config.yaml"
SIGMA_RULES = DETECT / "sigma" / "rules"
SIGMA_SETTINGS = DETECT / "sigma" / "settings.yaml"
OUT = ROOT / "docs" / "detections.md"

# Working tables (src/wormsign/detect/prep.py, propagation.py) and the config.yaml keys that shape them.
TABLES: dict[str, tuple[str, list[str]]] = {
    "h_ipmap": ("address -> host map", ["loopback"]),
    "h_drops": (
        "executables written to a host from another host "
        "(stored, with the writers of System-written ones: `hunt_drops`, `hunt_writers`)",
        ["admin_shares", "write_mask_bit", "loopback", "exec_extensions", "logon_window_s"],
    ),
    "h_execs": ("code started the way remote tools start it (stored)", ["remote_parents", "rpc_exec"]),
    "h_callers": ("the caller of each install: the host that logged on over the network just before (stored)",
                  ["logon_window_s", "session_max_s", "loopback"]),
    "h_svc": ("per image the service control manager starts: on how many hosts and days (stored)",
              ["remote_parents"]),
    "h_smb": ("port-445 connections between hosts (stored)", ["exploit_min_bytes", "loopback"]),
    "h_logons": ("successful network logons (4624 type 3) (stored)", ["loopback"]),
    "h_authfail": ("failed authentications (stored)", ["loopback"]),
    "h_lockouts": ("account lockouts (4740) (stored)", []),
    "h_edges": (
        "propagation edges (a host starting code it got from another host) (stored)",
        ["exec_window_s", "exploit_window_s", "system_dirs_re", "scan_window_s", "scan_min_hosts",
         "session_skew_s"],
    ),
    "h_chan": ("connection channels to outside addresses, per source host (stored)", ["internal_re"]),
    "h_img": ("per host and image: its hash and the outside addresses it connected to (stored)",
              ["internal_re"]),
    "h_runs": ("starts of executables a program (not the kernel) wrote on the same host (stored)",
               ["exec_extensions"]),
}
# h_edges is built from these tables, so a rule on h_edges is shaped by their settings too.
TABLE_DEPS = {"h_edges": ["h_drops", "h_execs", "h_smb", "h_logons"]}

# What each rule cites as evidence (read from its SQL). A rule missing here says "see its SQL".
EVIDENCE = {
    "admin-share-copy": "The drop events (5145 on the target, Zeek `smb_files` writes, Sysmon 11 written by "
    "System), up to 50 in time order. One alert per source, file name and clock hour.",
    "beacon": "The first 20 connections (Sysmon 3, Zeek `conn`) of the channel. One alert per source host and "
    "channel (the process image where Sysmon names it, else the destination address and port).",
    "bruteforce": "The failed authentications (4625, 4771, 4776, Zeek `ntlm`/`kerberos` failures), up to 50. "
    "One alert per source, account and `auth_window_s` bucket; `success` is true when a "
    "successful network logon (4624 type 3) from that source as that account follows a "
    "failure within `auth_window_s`.",
    "loader-payload": "Two events: the Sysmon 11 file creation by the writer and the process start of the "
    "payload (within an hour of the write). The writer's and payload's hashes differ, the "
    "payload talks to outside addresses, and none of them is one the writer used.",
    "lockout-storm": "The 4740 events, up to 50; `accounts` lists the locked accounts (up to 100), "
    "`target_hosts` the domain controllers. One alert per caller computer and "
    "`lockout_window_s` bucket.",
    "psexec": "5145 opens of `*-stdin`/`-stdout`/`-stderr` pipes from another host, drops of the service "
    "binaries in `binaries`, and executions of them; up to 50. One alert per host and clock hour.",
    "remote-exec": "For each edge, the drop event and the execution event (or the Zeek `dce_rpc` call); up "
    "to 50. One alert per source, file name and clock hour, listing every target.",
    "remote-service": "Service installs (7045, 4697), children of `services.exe` that are not routine in the "
    "case, "
    "Zeek `svcctl` calls, and "
    "5145 opens of the `svcctl` pipe from a non-loopback address; up to 50. One alert per "
    "source, service (or child image) and clock hour.",
    "remote-task": "Task registrations (4698, 4702), children of `taskeng.exe`, Zeek `atsvc`/"
    "`ITaskSchedulerService` calls, and 5145 opens of the `atsvc` pipe from a non-loopback "
    "address; up to 50. One alert per host, source, task and clock hour.",
    "smb-exploit-spread": "For each edge, the port-445 connection and the execution on the target (or, with "
    "wire data alone, the payload-sized session to a host that then scans port 445 "
    "itself); up to 50. One alert per source host over the whole case.",
    "spray": "The failed authentications, up to 50; `accounts` lists up to 50 of the accounts tried, "
    "`failures` counts them all. One alert per source and `auth_window_s` bucket.",
    "spreader-fanout": "The drop events, up to 50; `files` lists up to 20 file names. One alert per source "
    "and `fanout_window_s` bucket.",
    "wmi-exec": "The process starts under `WmiPrvSE.exe` (by parent image, or by parent process id within an "
    "hour when the log has no parent image) and Zeek `IWbemServices` ExecMethod calls; up to 50. "
    "One alert per host, image and clock hour. It names no source host.",
}

CONFIG_NOTES = {
    "max_alerts": "every rule (`LIMIT $max_alerts`)",
    "internal_re": "`beacon`, `loader-payload`; the outbreak graph drops infectors that are outside addresses",
    "deployer_min_days": "the learned deployer baseline (detect/baseline.py)",
    "deployer_min_hosts": "the learned deployer baseline (detect/baseline.py)",
    "deploy_min_hosts": "deployment vs infection (graph/select.py)",
    "deploy_window_s": "deployment vs infection: the window of a source's fan-out (graph/select.py, graph/deploy.py)",
    "chain_window_s": "deployment vs infection (graph/select.py)",
    "sibling_window_s": "deployment vs infection (graph/select.py)",
    "self_copy_max_hosts": "a worm's first generation: the pushers whose initial-access chains are read, at most "
                           "(graph/replicate.py)",
    "initial_access_lookback_s": "patient zero's initial-access chain (detect/access.py)",
    "initial_access_max_events": "process starts and file writes read on patient zero, at most (detect/access.py)",
    "initial_access_lures": "patient zero's initial-access chain (detect/access.py)",
    "initial_access_children": "patient zero's initial-access chain (detect/access.py)",
    "initial_access_mail": "the chain's ATT&CK tags: a program these started is phishing (detect/access.py)",
    "initial_access_attack": "the chain's ATT&CK tags (detect/access.py)",
    "exec_window_s": "`h_edges`; also how far before its infection a host's alerts join its outbreak (hunt.py)",
    "next_hop_weights": "the next likely hops' score (graph/hops.py)",
    "next_hop_max": "next likely hops listed per outbreak (graph/hops.py)",
    "next_hop_evidence": "contacts listed per next likely hop (graph/hops.py)",
}

SETTINGS_NOTES = {
    "merge_gap_seconds": "hits of one single-event rule on one host closer together than this become one alert",
    "max_evidence": "event references kept on one alert (the count in `fields` stays exact)",
    "max_hits_per_rule": "rows one rule may return; a rule matching more is cut and reported",
    "max_rule_file_bytes": "rule files larger than this are refused",
    "max_alert_fields": "field values copied into an alert's `fields`",
    "max_field_chars": "the size each copied value is cut to",
    "severity": "Sigma `level` -> alert severity",
    "disabled": "rule ids (or `name`s) switched off; they are listed as skipped",
    "level_override": "rule id -> level, for a rule that is noisy (or quiet) on this network",
}


def code(x: object) -> str:
    return f"`{x}`"


def cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def load_rules() -> list[dict]:
    out = []
    for p in sorted(RULES.glob("*.yaml")):
        d = yaml.safe_load(p.read_text("utf-8"))
        d["_file"] = p.name
        out.append(d)
    return out


def rule_thresholds(rule: dict, cfg: dict) -> tuple[list[str], list[str], list[str]]:
    """(config keys bound directly, the rule's own thresholds, config keys behind its working tables)."""
    names = list(dict.fromkeys(re.findall(r"\$([a-z_][a-z0-9_]*)", rule["sql"])))
    own = [n for n in names if n in (rule.get("thresholds") or {})]
    direct = [n for n in names if n not in own and n in cfg]
    tables = [t for t in TABLES if re.search(rf"\b{t}\b", rule["sql"])]
    for t in list(tables):
        tables += [d for d in TABLE_DEPS.get(t, []) if d not in tables]
    indirect = []
    for t in tables:
        indirect += [k for k in TABLES[t][1] if k not in direct and k not in indirect]
    return direct, own, indirect


def field_names(sql: str) -> list[str]:
    m = re.search(r"struct_pack\((.*?)\)\)\s*AS fields", sql, re.DOTALL)
    if not m:
        return []
    return list(dict.fromkeys(n.strip('"') for n in re.findall(r'("[^"]+"|[a-z_0-9.]+)\s*:=', m.group(1))))


def value(v: object) -> str:
    s = yaml.safe_dump(v, default_flow_style=True, width=10_000).strip()
    return s[:-4].strip() if s.endswith(("\n...", " ...")) else s


def sigma_docs() -> list[tuple[str, dict]]:
    out = []
    for p in sorted(SIGMA_RULES.rglob("*.yml")):
        for d in yaml.safe_load_all(p.read_text("utf-8")):
            if isinstance(d, dict) and d.get("title"):
                out.append((str(p.relative_to(SIGMA_RULES)), d))
    return out


def attack_tags(d: dict) -> str:
    tags = [t.split(".", 1)[1].upper() for t in d.get("tags") or [] if re.match(r"attack\.t\d", t)]
    return ", ".join(tags) or "-"


def sigma_kind(d: dict, names: dict[str, str], bases: dict[str, bool]) -> str:
    c = d.get("correlation")
    if not c:
        if d.get("name") in bases:
            if bases[d["name"]]:
                return "single event; base of a correlation, alerts too (`generate: true`)"
            return "single event; base of a correlation only (no alerts of its own)"
        return "single event"
    cond = c.get("condition") or {}
    ops = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "=="}
    what = ", ".join(f"{ops.get(k, k)} {v}" for k, v in cond.items() if k != "field")
    if cond.get("field"):
        what += f" distinct {cond['field']}"
    refs = ", ".join(names.get(r, r) for r in c.get("rules") or [])
    gen = "; `generate: true`" if c.get("generate") else ""
    return (
        f"{c.get('type')}: {what} per {', '.join(c.get('group-by') or [])} in {c.get('timespan')}"
        f" over [{refs}]{gen}"
    ).replace("  ", " ")


def render() -> str:
    cfg = yaml.safe_load(CONFIG.read_text("utf-8"))
    rules = load_rules()
    L: list[str] = []
    w = L.append

    w("# Detections")
    w("")
    w(
        "<!-- Generated by scripts/gen_detections_doc.py from src/wormsign/detect/rules/*.yaml, config.yaml and"
    )
    w("     sigma/; edit those (or the prose in the script) and rerun it. -->")
    w("")
    w("What `wormsign hunt` looks for, what each alert cites, how alerts become incidents, and how to")
    w("tune and extend it. Everything here is read from the files that define it:")
    w("")
    w("| what | where |")
    w("|---|---|")
    w(
        "| the analytics (one YAML file each, run as bound SQL) | `src/wormsign/detect/rules/*.yaml`, loaded by `detect/rules.py` |"
    )
    w("| their thresholds and every other tunable of the hunt | `src/wormsign/detect/config.yaml` |")
    w("| the working tables the analytics share | `src/wormsign/detect/prep.py`, `detect/propagation.py` |")
    w(
        "| the learned deployer baseline and the allowlist | `src/wormsign/detect/baseline.py`, `graph/select.py` |"
    )
    w("| outbreak reconstruction and alert fusion | `src/wormsign/hunt.py`, `src/wormsign/graph/` |")
    w(
        "| the in-house Sigma rules and their tuning | `src/wormsign/detect/sigma/rules/`, `sigma/settings.yaml` |"
    )
    w("")
    w("A hunt runs in this order (`wormsign.hunt.hunt`): resolve addresses to hosts (only when the case")
    w("changed since the last resolution), take the rows the detections start from and the working tables")
    w("that depend on the events alone (stored by the resolver: `hunt_index` and the tables marked (stored)")
    w("below, when they cover the case's events and the hunt's configuration; else computed from one pass")
    w("over `events`), build the other working tables and the propagation edges, run every analytic below")
    w("and the Sigma rules (alerts, numbered")
    w("`ALR-000001`... in time order), learn the deployer baseline, pick the edges that are infections,")
    w("build the infection trees, and turn them and the remaining alerts into incidents (`INC-0001`...).")
    w("Alerts and incidents are written as `alerts.ndjson` and `incidents.json` (docs/formats.md).")
    w("")

    # ---------------------------------------------------------------- summary
    w("## The analytics")
    w("")
    w("| id | title | ATT&CK | severity |")
    w("|---|---|---|---|")
    for r in rules:
        w(f"| [`{r['id']}`](#{r['id']}) | {cell(r['title'])} | {', '.join(r['attack'])} | {r['severity']} |")
    w("")
    w("Each analytic is one SQL query over the case's `events` table and the working tables below. Its")
    w("thresholds come from `config.yaml` (or from its own `thresholds:` block) and are bound as query")
    w("parameters (`$name` in the SQL), never pasted into it. Every alert carries `rule` (the id), `title`,")
    w(
        "`severity`, `attack`, `ts`/`first_seen`/`last_seen`, `host`, `source_host`, `target_hosts`, a one-line"
    )
    w("`summary`, `evidence` (references `digest:record` to the original events) and `fields`.")
    w("")
    w("### Working tables")
    w("")
    w("Built once per hunt by `detect/prep.py`, `detect/propagation.py` and `detect/activity.py`; a threshold")
    w("that shapes a table shapes every analytic that reads it. A table marked (stored) depends on the events")
    w("alone: the resolver stores it (`hunt_*`) with the pass over the events, and a hunt reads it while its")
    w("configuration is the one stored (`meta.hunt_index`); otherwise the hunt computes it.")
    w("")
    w("| table | holds | config.yaml keys |")
    w("|---|---|---|")
    for t, (desc, keys) in TABLES.items():
        w(f"| `{t}` | {desc} | {', '.join(code(k) for k in keys) or '-'} |")
    w("")
    w("- `h_drops`: 5145 writes (the `write_mask_bit` of the access mask) to an `admin_shares` share from a")
    w(
        "  non-`loopback` address, Zeek `smb_files` writes, and Sysmon 11 files written by `System`, kept when the"
    )
    w(
        "  file's extension is in `exec_extensions` and the writer is another host. A System-written file names"
    )
    w(
        "  no writer: it is given to the host whose network logon (4624 type 3) on the target came last, at most"
    )
    w("  `logon_window_s` before.")
    w(
        "- `h_execs`: services installed (7045, 4697), tasks registered (4698, 4702), processes whose parent is"
    )
    w(
        "  in `remote_parents` (`services.exe`, `wmiprvse.exe`, `taskeng.exe`, `psexesvc.exe`), and Zeek `dce_rpc`"
    )
    w("  calls listed in `rpc_exec`, each with every executable name its command line names.")
    w("- `h_callers`: an install names no caller: its caller is the host whose network logon on it came")
    w("  last, at most `logon_window_s` before (read by `remote-service` and the hunt's Sigma alerts, never")
    w("  an edge).")
    w("- `h_chan`, `h_img`, `h_runs` (`detect/activity.py`): a channel is a process's connections to")
    w("  addresses outside `internal_re` (Sysmon 3), or on the wire those to one outside address and port")
    w("  (Zeek `conn`), with its count, first and last connection and the mean and spread of its gaps;")
    w("  `h_img` holds per host and image its least hash and outside addresses; `h_runs` the starts (with a")
    w("  hash) of executables a program wrote on the same host. The resolver stores them for every host;")
    w("  without them a hunt computes them for the implicated hosts only.")
    w("- `h_edges`: one row per execution on a host explained by another host, keeping the best")
    w("  explanation (`propagation.py`), in this order: (0) a port-445 session that carried")
    w("  `exploit_min_bytes` or more (or that the target logged itself) at most `exploit_window_s` before an")
    w("  executable outside `system_dirs_re` started, with no successful network logon from that host in")
    w("  that session (from `session_skew_s` before it to the execution: an admin's PsExec to the host in an")
    w("  earlier session does not make a later exploit from the same host an admin's) (credential-less")
    w("  spread; only for executions not explained by (1)); (1) a drop of the very")
    w("  file the execution names, at most `exec_window_s` before it, or a remote call (Zeek `dce_rpc`) that")
    w("  names its caller; (2) the latest drop of some other file at most `exec_window_s` before it (worms")
    w("  rename each copy), though a process start of a program in `system_dirs_re` only by a DLL it can")
    w("  load (a hijack: OTRF's `wlbsctrl.dll`, `wbemcomn.dll`; services.exe starts svchost.exe all day, and")
    w("  an installer copied to `C:\\Windows\\Temp` started none of them); the edge's SHA-256 is the dropped")
    w("  file's (the execution's only where its image is that file: PSEXESVC.exe or rundll32.exe running a")
    w("  dropped `.dat` are other programs); (3) a mere probe of port 445 before it, as in (0); (4) with no execution seen, a")
    w("  payload-sized session to a host that starts scanning port 445 itself (`scan_min_hosts` hosts within")
    w(
        "  `scan_window_s`) within `exploit_window_s` after it, again with no logon in that session. Rows of"
        " (0), (3) and (4) are of kind `exploit`."
    )
    w("")

    for r in rules:
        direct, own, indirect = rule_thresholds(r, cfg)
        w(f"### {r['id']}")
        w("")
        w(
            f"**{r['title']}** · severity **{r['severity']}** · ATT&CK {', '.join(r['attack'])} · `detect/rules/{r['_file']}`"
        )
        w("")
        w(" ".join(str(r["explanation"]).split()))
        w("")
        w("| | |")
        w("|---|---|")
        th = [f"`{k}` = `{value(cfg[k])}`" for k in direct]
        w(f"| thresholds (config.yaml) | {cell(', '.join(th)) or '-'} |")
        if own:
            ow = [f"`{k}` = `{value(r['thresholds'][k])}`" for k in own]
            w(f"| thresholds (its own `thresholds:`) | {cell(', '.join(ow))} |")
        if indirect:
            w(f"| through the working tables | {', '.join(code(k) for k in indirect)} |")
        w(f"| evidence | {cell(EVIDENCE.get(r['id'], 'see its SQL'))} |")
        fn = field_names(r["sql"])
        w(f"| fields | {', '.join(code(f) for f in fn) or '-'} |")
        w(f"| summary | `{cell(r['summary'])}` |")
        w("")

    # ---------------------------------------------------------------- thresholds
    w("## Thresholds (config.yaml)")
    w("")
    w("Every key of `src/wormsign/detect/config.yaml`, its value, and what reads it.")
    w("")
    w("| key | value | used by |")
    w("|---|---|---|")
    for k, v in cfg.items():
        users = [r["id"] for r in rules if k in rule_thresholds(r, cfg)[0]]
        tabs = [t for t, (_, keys) in TABLES.items() if k in keys]
        parts = []
        if k in CONFIG_NOTES:
            parts.append(CONFIG_NOTES[k])
        else:
            if users:
                parts.append(", ".join(code(u) for u in users))
            if tabs:
                parts.append("working tables " + ", ".join(code(t) for t in tabs))
        sv = value(v)
        if len(sv) > 80:
            sv = sv[:77] + "..."
        w(f"| `{k}` | `{cell(sv)}` | {cell('; '.join(parts)) or '-'} |")
    w("")
    w(PROSE_TUNING.rstrip() + "\n")
    w(PROSE_BASELINE.rstrip() + "\n")
    w(PROSE_FUSION.rstrip() + "\n")

    # ---------------------------------------------------------------- sigma
    docs = sigma_docs()
    names = {str(d["name"]): str(d["title"]) for _, d in docs if d.get("name")}
    bases: dict[str, bool] = {}
    for _, d in docs:
        c = d.get("correlation") or {}
        for r in c.get("rules") or []:
            bases[r] = bases.get(r, False) or bool(c.get("generate"))
    w(PROSE_SIGMA.rstrip() + "\n")
    w("| title | level | ATT&CK | kind | id | file |")
    w("|---|---|---|---|---|---|")
    for f, d in docs:
        w(
            f"| {cell(str(d['title']))} | {d.get('level', '-')} | {attack_tags(d)} | {cell(sigma_kind(d, names, bases))} "
            f"| `{d.get('id', '-')}` | `{f}` |"
        )
    w("")
    w("### Sigma tuning (sigma/settings.yaml)")
    w("")
    w("| key | value | meaning |")
    w("|---|---|---|")
    settings = yaml.safe_load(SIGMA_SETTINGS.read_text("utf-8"))
    for k, v in settings.items():
        w(f"| `{k}` | `{cell(value(v))}` | {cell(SETTINGS_NOTES.get(k, ''))} |")
    w("")
    w(PROSE_SIGMA_RUN.rstrip() + "\n")
    w(PROSE_ADD.rstrip())
    return "\n".join(L).rstrip() + "\n"


PROSE_TUNING = """## Tuning a threshold

- **Edit `src/wormsign/detect/config.yaml`.** Every analytic reads its thresholds from there by name;
  the next `wormsign hunt` uses the new value. Change them there, not in the SQL.
- **Override per hunt from Python.** `wormsign.hunt.hunt(case, config={"bruteforce_min_failures": 20})`
  starts from config.yaml and replaces the keys given (`wormsign.detect.config.load`). An unknown key is
  an error (`KeyError: unknown hunt setting ...`), so a typo cannot pass silently. The `wormsign hunt`
  command has no flag for this; it uses config.yaml.
- **A rule's own `thresholds:` block** (as `psexec` has `binaries` and `remote-service` has
  `benign_children`) is merged over the config: a key there wins over config.yaml and over the
  overrides for that rule only.

Keys that only shape the working tables (`admin_shares`, `exec_window_s`, ...) change every analytic
that reads those tables and the outbreak graph too (see the tables above).

"""

PROSE_BASELINE = """## Deployments: the learned baseline and the allowlist

Software deployment (SCCM, PDQ, backup agents) looks like a worm: one host copies an executable to
many hosts and starts it. wormsign does not drop those alerts; it keeps routine deployments **out of
the infection graph**, so they do not become outbreaks. `spreader-fanout`, `admin-share-copy`,
`remote-exec` and the other analytics still raise their alerts; alerts outside every outbreak become
`lateral` incidents of their own, and a known deployer's usual pushes a low-severity "routine
deployment" incident (see below).

**Learned baseline** (`detect/baseline.py`). From `h_drops`: a source host that copied the same file
(keyed by SHA-256, else by file name) to `deployer_min_hosts` or more hosts in one UTC day, on
`deployer_min_days` or more distinct days, is a *deployer*, and that file is one of its *known* files.

**Allowlist** (`wormsign hunt ... --allowlist allow.yaml`):

```yaml
deployers: [sccm-01]             # hosts whose pushes are expected
files: [ccmsetup.exe, <sha256>]  # file names or hashes anyone may push
```

Names are compared in lower case. A file that is not a mapping is an error naming it.

**What is set aside** (`graph/select.py`). A propagation edge of kind copy or rpc (never an
SMB-exploit edge) is set aside as a deployment when

- its source is allowlisted, or its file name or hash is allowlisted, or its source is a learned
  deployer pushing one of its known files (unless the source is *tied*, below); or
- (copy edges) its source pushed a file of the same name to `deploy_min_hosts` or more hosts within
  `deploy_window_s` (7 days: a deployer keeps its own pace, ConfigMgr's client push retrying a host
  hourly for up to 7 days and its health remediation reinstalling the client a few hosts a day;
  a worm's copies from one host come in one burst, and its copies travel on).

**What is still flagged.** A set-aside edge is taken back as an infection when the file travels on:

- its target pushes a file of the same name on within `chain_window_s` (a deployment that spreads on
  from its targets; the onward copy is taken back too), unless the file is that of a tool each use
  copies afresh (`fresh` in `deployment.yaml`: PsExec's PSEXESVC.exe);
- its source itself received that file through an infection earlier; or
- a sibling copy (same source and file name, within `sibling_window_s`) is an infection.

A copy by a host that pushed the program its own intrusion delivered to it (`graph/replicate.py`: its
initial-access chain, a lure, an exploit or two stages of files written then run (the second not the first
unpacking itself: a self-extracting installer, Inno Setup or WiX Burn, writes its copy under its own name and
starts it with its own path; an admin who ran a downloaded installer and pushed it is no worm), delivered a program
with the same SHA-256 or name as the pushed file, or that its targets start the same way, the file's
name aside: `rundll32.exe <f>,#1 30`) is never set aside, and the host is tied from the chain's first
program on (less `exec_window_s`): a worm's first generation is an outbreak before any copy travels on.
Only hosts that pushed files with no deployment footprint to `deploy_min_hosts` or more hosts, that are
neither learned nor allowlisted deployers nor tied already, are looked at.

These rules repeat until nothing changes. A source is *tied* from the `first_seen` of its first
`bruteforce`, `spray` or `lockout-storm` alert (as the source) or `beacon` or `loader-payload` alert
(as the host), less `exec_window_s`; from then on a learned or allowlisted deployer loses its allowance.
The fan-out rule (`deploy_min_hosts` within `deploy_window_s`) does not look at the baseline or at
ties: such a copy stays set aside until its file travels on.

So the infection graph still gets: every SMB-exploit edge; copies by a host that is neither
allowlisted nor a learned deployer of that file, unless it pushed that file name to
`deploy_min_hosts` or more hosts within `deploy_window_s`; a learned deployer pushing a file it never pushed before
(same proviso); an allowlisted or learned deployer once it is tied to brute force, spray, lockouts,
beaconing or a loader payload (same proviso); and any set-aside copy whose file travels on.

**Deployment tools by their footprints** (`graph/deploy.py`, `graph/deployment.yaml`). The YAML lists
the public, documented footprints of SCCM/ConfigMgr (client push of `ccmsetup.exe` to
`ADMIN$\\ccmsetup`, the `ccmsetup` and `CcmExec` services, `ccmcache`), PDQ Deploy
(`PDQDeployRunner-N`), Intune (`IntuneManagementExtension`, `AgentExecutor.exe`), ManageEngine
(`dcagentservice`, `UEMS_Agent`), Ivanti/LANDesk (`LDClient`, `sdclient.exe`, `ldlogon`), Tanium
(`TaniumClient.exe`), Group Policy software installation (msiexec of an `.msi` from `SYSVOL`) and
PsExec (`PSEXESVC`), each with the documentation it comes from and the severity of a recognised push.
A name is a claim (a worm can call itself `ccmsetup.exe`): the pushes of one source outside every
outbreak (before the source's own infection less `exec_window_s`) are one *deployment* per tool (or
per source, with no footprint) when the footprint matches or the source behaves as a deployer (same
file to `deploy_min_hosts` or more hosts within `deploy_window_s`, learned baseline, allowlist). Its
severity:

- `high` when worm evidence joins it: the source was tied (brute force, spray, lockouts, beacon,
  loader payload; the tie rules above) before its last push, or a pushed host beaconed within
  `exec_window_s` after the push from the pushed file (or from no process named). Onward spread from
  the targets makes their copies infections, so the pushes become part of an outbreak (critical).
  Pushed hosts are implicated, so their beaconing is looked for;
- `low` when a learned or allowlisted deployer pushed, or a recognised tool was pushed with deployer
  behaviour (the tool's own severity: PsExec, which attackers use as it is, stays `medium` on first
  sight);
- `medium` otherwise: a deployer outside its baseline, a one-day push with no footprint, a footprint
  pushed to too few hosts to call its source a deployer.

An alert outside every outbreak that a deployment explains joins its incident at its severity: the same
source, within `exec_window_s` of its pushes, and every file it names pushed there or of the tool's
footprint (a service name alone must match the footprint; an alert naming no file, such as the wire's
svcctl calls, only pushed hosts, each within the window). A same-file Sigma correlation joins when its
hash was pushed or all its hosts are pushed hosts. The pushes of a deployment with no worm evidence
never put a host on an outbreak's "under attack" list.

"""

PROSE_FUSION = """## From alerts to incidents

**Infection trees** (`hunt.py`, `graph/tree.py`). The edges of `h_edges` are merged to one per source,
target, file and clock hour (with all their evidence). An edge whose source is an IP address outside
`internal_re` is dropped: an outside address is no infector, the host it reached is where the outbreak
entered. After the deployment selection above, each host's infecting edge is the earliest edge into it,
unless the host had already spread itself before that edge (then the edge is a re-infection attempt).
Each connected tree is one candidate outbreak, largest first; its root is patient zero.

**Initial access** (`detect/access.py`). On patient zero, the process starts and file writes within
`initial_access_lookback_s` before its first spread (at most `initial_access_max_events`). The chain is
traced back from the payload, the last program run before the spread from a file written on the host
(its program, or a file its parent wrote named on its command line): the write, the program that
wrote it, that program's parent, and so on while each is a step of an intrusion: a program a mail
client (`initial_access_mail`) started, one of `initial_access_children` (a shell, script host or
download tool) that a lure (`initial_access_lures`) or another such child started, or a program run
from a written file. Processes are linked by their ids, else by their executables. The payload
taken is the latest whose chain shows an intrusion (a lure step, an exploit, or two written-then-run
stages); an SMB exploit session from an outside address that started the payload (`h_edges` kind
`exploit`) opens the chain (`T1190`) and joins that address's alerts to the outbreak. Without file
telemetry the chain is the lure's lineage: the first program a mail client or lure started that went
on to a child, and the children below it. It is a *lure* when a lure started one of
`initial_access_children`; patient zero's infection time then moves back to the start of the chain
(to the exploit, for an exploit entry). Each step carries its ATT&CK techniques
(`initial_access_attack`): a program a mail client started is phishing (`T1566`, `T1566.001`,
`T1204.002`); a child a lure started is `T1204.002` plus what the child is (`T1059.001` PowerShell,
`T1218.005` mshta, `T1105` a download tool, ...).

**Next likely hops** (`graph/hops.py`). For each outbreak, the hosts not infected yet that infected
hosts reach, from their infection on, the way the outbreak spreads: payload-sized SMB sessions (when
it spreads by SMB exploit), network logons with an account of its edges (from any host: the worm's
credentials work there), failed logons and copies that never ran, other logons and SMB sessions.
Scored by `next_hop_weights`, named hosts before bare addresses; `next_hop_max` listed, with
`next_hop_evidence` contacts each.

**Which trees are outbreaks.** A tree becomes an `outbreak` incident when the spread went on from its
targets (depth 2 or more), or a host in it that spread is tied (brute force, spray, lockouts, beacon,
loader payload: the tie rules above), or patient zero came in through a lure. A single deployment
server pushing to hosts that never pass it on is none of these. A host that was the source of
`bruteforce`, `spray` or `lockout-storm`, is in no outbreak, and came in through a lure also gets an
outbreak incident of its own (one host, no spread yet).

**Fusion.** An outbreak takes every alert whose `host` or `source_host` is one of its hosts and whose
`last_seen` is no earlier than that host's infection time less `exec_window_s` (for patient zero, the
start of its initial-access chain if earlier), and every lockout (4740) caused by one of its hosts. The
outbreak incident lists the infection edges, generations, spread rate, R estimate, hosts under attack,
accounts, families, C2 and the containment order (docs/formats.md).

**Everything else** (`graph/incidents.py`). Alerts fused into no outbreak are grouped:

| alerts | incident type | one incident per |
|---|---|---|
| `bruteforce`, `lockout-storm` | `bruteforce` | acting host (`source_host`, else `host`); lists the lockouts that host caused and the accounts to reset |
| `spray` | `spray` | acting host |
| `beacon` | `beacon` | acting host; lists the C2 addresses and ports to block |
| any alert but brute force, spray, lockouts, beacon, loader payload and SMB exploit, when a deployment explains it (above) | `lateral`, the deployment's severity | deployment, titled "routine deployment by HOST: TOOL to N hosts", "possible TOOL push", "deployment by HOST outside its baseline" or "... joined by worm evidence (...)" |
| every other analytic | `lateral` | acting host, titled with the rule ids (and, for a learned or allowlisted deployer, "a known deployer outside its baseline"); at most `medium` when its alerts are copies only (`admin-share-copy`, `spreader-fanout`: nothing started) and the host is not tied |
| every other analytic, when it is a known deployer's usual push (`Baseline.routine_alert`: a learned or allowlisted deployer, a file it was seen pushing, no tie to brute force) | `lateral`, severity `low` | deployer, titled "routine deployment by HOST (learned baseline)" |
| Sigma rules (`sigma:<id>`) naming no other host, on the records of an analytic alert of movement that names no other host either (a local PsExec) or on its host within `same_moment_s` (`graph/families.yaml`, 60 s) | `lateral`, the analytic's severity | that alert's incident, titled "lateral on HOST, from itself: ..." (listed there as `sigma`) |
| Sigma rules (`sigma:<id>`) of a known deployer acting on another host (its admin-share writes; Sigma alerts name no file, so only the deployer and the tie to brute force are checked) | `lateral`, severity `low` | joins that deployer's routine incident (listed there as `sigma`) |
| other Sigma rules (`sigma:<id>`) | `sigma` | rule family (`graph/families.yaml`: the intrusion phase of the rule's first ATT&CK tactic, e.g. credential access; a rule naming none is a family of its own), acting host (`source_host` when another host acted, else the hosts seen together) and episode (alerts no more than 24 h apart); titled by the rule's title when there is one rule, else by the family and its most frequent rule; at most `medium` when a known deployer acted, or when all its rules only say that files reached hosts or that a program was started as administrators start them (`copies_only` in `graph/families.yaml`: a write to an admin share, the same file on many hosts; `movement_only`: a program started through WMI, PsExec's service and pipes) and the acting host (else the hosts seen together) was not tied by then: a target's own evidence (a sprayer an admin copied an installer to) is not the writer's |

The severity of an incident is the highest of its alerts (routine deployments: `low`). Lockouts left over go into one `bruteforce`
incident, "N account lockouts", of severity medium.

"""

PROSE_SIGMA = """## Sigma rules

`wormsign hunt` runs the in-house Sigma rules by default alongside the analytics; `--no-sigma` skips
them (and any others). Their alerts have `rule` = `sigma:<id>` (the rule's UUID, else its `name`, else
its title) and a severity from the rule's `level` (the `severity` map of `settings.yaml`). Single-event
hits of one rule on one host closer than `merge_gap_seconds` are one alert. A base rule named by a
correlation only feeds it unless the correlation says `generate: true`. An alert's `source_host` is
the host its first event names as the source, else the host itself; in a hunt, an alert whose first
event is a service install (7045, 4697: they name no caller) takes as `source_host` the host that
logged on over the network within `logon_window_s` before, as `remote-service` does.

The fields the rules read are parsed out of each record once and kept in the case
(`sigma_cache`, described by meta `sigma_cache`; `src/wormsign/detect/sigma/fields.py`): a later
run on the same events whose rules need no other field and no other (channel, EventID) pair
reads them instead of parsing the records again (on a 10M-event case a Sigma run takes 1.1 s
instead of 5.7 s); one that needs more rebuilds the cache with both, and events added since
make it stale. A case opened read-only reads a cache that covers its run, else parses into a
temporary table.

Rules run one pass per log source group (`sigma/scan.py`): the group's events are copied once
into a temporary table with the fields its rules read, as recorded and lower-cased, and one query
evaluates every rule of the group on each event (one `CASE` per rule, cheapest comparison first,
returning the rules each event matches). The rules come compiled (`sigma/compiled.py`): the SQL,
fields, scope and alert texts of a rule set are kept as JSON under `WORMSIGN_CACHE` (else
`~/.cache/wormsign`; `off` keeps none), named by a digest of the rule files, the tuning, the
tables and the code, so pySigma converts a rule set once. Correlations `event_count`,
`value_count` and `temporal` are evaluated by DuckDB window functions over the base rules'
matches; `temporal_ordered` slides in Python.

### In-house rules (src/wormsign/detect/sigma/rules/)

"""

PROSE_SIGMA_RUN = """### Running a SigmaHQ folder

```sh
# with the hunt: the in-house rules plus every rule under the folder (--sigma is repeatable)
.venv/bin/wormsign hunt /evidence --case case.duckdb --sigma sigma/rules/windows
# on its own, single-event and correlation rules, on an existing case
.venv/bin/wormsign sigma --case case.duckdb --rules sigma/rules/windows [--no-builtin] \\
    [--out sigma-alerts.ndjson] [--show-skipped] [--strict]
```

Every `.yml`/`.yaml` file under the given files and folders is loaded. A rule whose log source or
fields wormsign does not map (`sigma/logsources.yaml`, `sigma/fields.yaml`), or that fails to convert,
is skipped and counted by reason (`--show-skipped` lists each one; `--strict` makes any skip exit 1).
`wormsign sigma` opens the case read-only: it prints the rules that fired and writes alerts only with
`--out`; `wormsign hunt` stores the Sigma alerts with the rest and fuses them into incidents.
`--no-builtin` (of `wormsign sigma`) leaves the in-house set out.

Tune Sigma rules in `sigma/settings.yaml`, not in the rule files (in-house or SigmaHQ): list a noisy
rule's id (or `name`) under `disabled`, or change its level with `level_override: {<id>: low}`.

"""

PROSE_ADD = """## Adding a detection

Add one YAML file to `src/wormsign/detect/rules/`; every `*.yaml` there is loaded
(`detect/rules.py`), sorted by file name. A file that is not a mapping, lacks a required key, or has
another severity is an error naming the file.

| key | required | meaning |
|---|---|---|
| `id` | yes | the alert's `rule`; keep it unique and stable (incidents and the tie rules name some ids) |
| `title` | yes | one line |
| `attack` | yes | list of ATT&CK technique ids |
| `severity` | yes | one of `low`, `medium`, `high`, `critical` |
| `explanation` | yes | plain language for the analyst (whitespace is collapsed) |
| `summary` | yes | a template over the result columns and the keys of `fields`, e.g. `"{host} did {what}"`; an unknown name prints `?`, a list its first 5 items; cut at 500 characters |
| `sql` | yes | the query (DuckDB) |
| `thresholds` | no | values of its own, bound like config keys and winning over them |

The query may use `$name` for any key of `config.yaml` or of its own `thresholds` (an unknown name
fails the hunt with a `KeyError`), the `events` table, the working tables above and the macros of
`detect/prep.py` (`ws_ref`, `ws_base`, `ws_ext`, `ws_names`, `ws_hkey`). It must return the columns
`ts, first_seen, last_seen, host, source_host, target_hosts, evidence, fields` (`fields` as JSON text,
e.g. `to_json(struct_pack(...))`; `evidence` a list of `ws_ref("src.digest", "src.record")`); each row is
one alert. End it with `LIMIT $max_alerts`.

New thresholds go into `config.yaml` when other code or other rules may want them, else into the
rule's `thresholds:`. Then rerun `scripts/gen_detections_doc.py` so this page lists the rule:
`tests/test_detections_doc.py` fails while a rule id, a config key or an in-house Sigma title is missing
here.

Note that some ids are also named in code: `bruteforce`, `spray`, `lockout-storm`, `beacon` and
`loader-payload` tie a host (hunt.py), and `bruteforce`, `spray`, `lockout-storm` and `beacon` pick the
incident type of alerts outside outbreaks (graph/incidents.py). Renaming one of them changes the
fusion, not just the label.
"""


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text("utf-8") != text:
            print(f"{OUT} is out of date; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, "utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
