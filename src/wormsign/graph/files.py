"""The per-file infection tree of an outbreak: which file reached which host, when, from where, how.

A file is its SHA-256 where the telemetry has one (worms rename each copy: the hash ties the
copies together), else its lower-case name. Its hops are the outbreak's infection edges that
carried it, plus patient zero's own payload (the last program of the initial-access chain).
"""

from __future__ import annotations

import re
from typing import Any

_PROGRAM = re.compile(r"^(.+?\.(?:exe|dll|com|scr|bat|cmd|ps1|vbs|js|hta|msi|sys|dat|tmp))(?=\s|$)", re.I)


def _key(sha256: str | None, name: str | None) -> str | None:
    if sha256:
        return str(sha256).lower()
    return f"name:{str(name).lower()}" if name else None


def _base(path: str | None) -> str | None:
    return path.replace("/", "\\").rsplit("\\", 1)[-1] if path else None


def exe_path(command: str | None) -> str | None:
    """The program of a command line or service image: inside its quotes, else up to the first
    space after an extension (``C:\\Windows\\x.exe -m security`` -> ``C:\\Windows\\x.exe``)."""
    if not command:
        return None
    c = command.strip()
    if c.startswith('"'):
        return c[1:].split('"', 1)[0] or None
    m = _PROGRAM.match(c)
    return m.group(1) if m else c


def _arrived(chain: list[dict[str, Any]], sent: set[str]) -> tuple[str, str | None, Any, str | None] | None:
    """Patient zero's payload as it arrived: a file of the chain that the next step runs, as its
    program or named on its command line: path, SHA-256 (the process's, when it is that program: a
    process's hash is its image's), time, the reference of the run. The one the outbreak then sent
    on (its key among ``sent``) first, else the first program, else the first file opened."""
    runs: list[tuple[int, tuple[str, str | None, Any, str | None]]] = []
    for f, p in zip(chain, chain[1:], strict=False):
        if f.get("step") != "file" or p.get("step") != "process" or not f.get("file"):
            continue
        path = str(f["file"])
        if str(p.get("process") or "").lower() == path.lower():
            runs.append((1, (path, p.get("sha256"), p["ts"], p.get("ref"))))
        elif path.lower() in str(p.get("command_line") or "").lower():
            runs.append((2, (path, f.get("sha256"), p["ts"], p.get("ref"))))
    for _, run in runs:
        if _key(run[1], _base(run[0])) in sent:
            return run
    return min(runs, key=lambda r: r[0])[1] if runs else None


def file_tree(patient_zero: str | None, edges: list[dict[str, Any]],
              initial_access: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FILE records (docs/formats.md) of an outbreak, first reached first: ``edges`` are its
    EDGE dicts, ``initial_access`` its STEP dicts (times as ISO text, in one form)."""
    hops: dict[str, list[dict[str, Any]]] = {}
    shas: dict[str, str | None] = {}
    sent = {k for e in edges for f in [e.get("file") or {}] for k in [_key(f.get("sha256"), f.get("name"))] if k}
    entry = _arrived(initial_access, sent)
    if entry is not None and patient_zero:
        path, sha, ts, ref = entry
        key = _key(sha, _base(path))
        if key:
            shas[key] = sha
            hops.setdefault(key, []).append({
                "host": patient_zero, "ts": ts, "infector": None, "method": "initial-access",
                "name": _base(path), "path": path, "evidence": [ref] if ref else [],
            })
    for e in edges:
        f = e.get("file") or {}
        key = _key(f.get("sha256"), f.get("name"))
        if key is None:
            continue
        shas[key] = f.get("sha256")
        hops.setdefault(key, []).append({
            "host": e["target"], "ts": e["ts"], "infector": e["source"], "method": e["method"],
            "name": f.get("name"), "path": f.get("path"), "evidence": list(e.get("evidence") or [])[:20],
        })
    out = []
    for key, hs in hops.items():
        hs.sort(key=lambda h: (str(h["ts"]), h["host"]))
        names = list(dict.fromkeys(h["name"] for h in hs if h["name"]))
        out.append({"key": key, "sha256": shas[key], "names": names, "first_seen": hs[0]["ts"], "hosts": hs})
    out.sort(key=lambda f: (str(f["first_seen"]), f["key"]))
    return out
