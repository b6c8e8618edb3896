"""Write ``src/wormsign/intel/attack.json``: every MITRE ATT&CK Enterprise technique and
sub-technique (id, name, tactics), revoked and deprecated ones too, from MITRE's published STIX.

    git clone https://github.com/mitre/cti && python scripts/attack_data.py cti
    python scripts/attack_data.py --git-dir path/to/cti.git [--rev COMMIT]

The source is the ``mitre/cti`` repository (``enterprise-attack/attack-pattern/*.json`` and the
``revoked-by`` relationships). Only facts are kept: the id, the name, the tactics (the
``mitre-attack`` kill-chain phases), whether the technique is deprecated, and for a revoked one
the technique that replaced it; the file records the ATT&CK version, the source and its commit.
wormsign reads the file at run time and never downloads anything.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "src" / "wormsign" / "intel" / "attack.json"
SOURCE = "https://github.com/mitre/cti"


def _git(git_dir: str, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", "--git-dir", git_dir, *args], input=data, capture_output=True, check=True).stdout


def _from_git(git_dir: str, rev: str) -> Iterator[dict[str, Any]]:
    """The STIX objects of the attack-pattern and relationship folders at ``rev``."""
    listing = _git(git_dir, "ls-tree", "-r", rev, "enterprise-attack/attack-pattern/",
                   "enterprise-attack/relationship/").decode()
    blobs = [line.split()[2] for line in listing.splitlines()]
    out = _git(git_dir, "cat-file", "--batch", data="\n".join(blobs).encode() + b"\n")
    pos = 0
    while pos < len(out):
        head_end = out.index(b"\n", pos)
        size = int(out[pos:head_end].split()[2])
        body = out[head_end + 1 : head_end + 1 + size]
        pos = head_end + 1 + size + 1
        yield from json.loads(body)["objects"]


def _from_dir(root: Path) -> Iterator[dict[str, Any]]:
    for sub in ("attack-pattern", "relationship"):
        for f in sorted((root / "enterprise-attack" / sub).glob("*.json")):
            yield from json.loads(f.read_text(encoding="utf-8"))["objects"]


def _attack_id(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references") or []:
        if ref.get("source_name") == "mitre-attack" and str(ref.get("external_id", "")).startswith("T"):
            return str(ref["external_id"])
    return None


def build(objects: Iterator[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """id -> {name, tactics, [deprecated], [revoked_by]} for every Enterprise technique."""
    by_ref: dict[str, dict[str, Any]] = {}
    revoked_by: dict[str, str] = {}
    for o in objects:
        if o.get("type") == "attack-pattern":
            by_ref[o["id"]] = o
        elif o.get("type") == "relationship" and o.get("relationship_type") == "revoked-by":
            revoked_by[o["source_ref"]] = o["target_ref"]
    out: dict[str, dict[str, Any]] = {}
    for ref, o in by_ref.items():
        tid = _attack_id(o)
        if tid is None:
            continue
        entry: dict[str, Any] = {
            "name": o["name"],
            "tactics": [p["phase_name"] for p in o.get("kill_chain_phases") or []
                        if p.get("kill_chain_name") == "mitre-attack"],
        }
        if o.get("x_mitre_deprecated"):
            entry["deprecated"] = True
        if o.get("revoked"):
            new = ref
            while new in revoked_by:  # follow a chain of revocations to the live technique
                new = revoked_by[new]
            if new != ref and new in by_ref and _attack_id(by_ref[new]):
                entry["revoked_by"] = _attack_id(by_ref[new])
        if tid in out and not out[tid].get("revoked_by") and entry.get("revoked_by"):
            continue  # an id reused: the live object wins
        out[tid] = entry
    for entry in out.values():  # a revoked technique without tactics takes its replacement's
        if not entry["tactics"] and entry.get("revoked_by") in out:
            entry["tactics"] = list(out[entry["revoked_by"]]["tactics"])
    return dict(sorted(out.items(), key=lambda kv: (kv[0].split(".")[0], kv[0])))


def _dump(doc: dict[str, Any]) -> str:
    """JSON with one technique a line (diffs between ATT&CK versions stay readable)."""
    head = {k: v for k, v in doc.items() if k != "techniques"}
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    rows = [f"    {json.dumps(t)}: {json.dumps(e, ensure_ascii=False)}" for t, e in doc["techniques"].items()]
    return "{\n" + "\n".join(lines) + '\n  "techniques": {\n' + ",\n".join(rows) + "\n  }\n}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout", nargs="?", help="a checkout of mitre/cti")
    ap.add_argument("--git-dir", help="a git directory of mitre/cti (read without a work tree)")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.git_dir:
        commit = _git(args.git_dir, "rev-parse", args.rev).decode().strip()
        subject = _git(args.git_dir, "log", "-1", "--format=%s", commit, "--", "enterprise-attack").decode()
        techniques = build(_from_git(args.git_dir, commit))
    elif args.checkout:
        root = Path(args.checkout)
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        subject = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%s", "--", "enterprise-attack"],
                                 capture_output=True, text=True, check=True).stdout
        techniques = build(_from_dir(root))
    else:
        ap.error("give a checkout of mitre/cti or --git-dir")
    version = subject.split("ATT&CK v", 1)[1].split()[0] if "ATT&CK v" in subject else "unknown"
    doc = {
        "attack_version": version,
        "domain": "enterprise-attack",
        "source": SOURCE,
        "source_commit": commit,
        "note": "MITRE ATT&CK technique ids, names and tactics (facts from MITRE's STIX data); "
                "regenerate with scripts/attack_data.py. ATT&CK is a registered trademark of "
                "The MITRE Corporation; see https://attack.mitre.org/resources/legal-and-branding/terms-of-use/.",
        "techniques": techniques,
    }
    args.out.write_text(_dump(doc), encoding="utf-8")
    live = sum(1 for t in techniques.values() if not t.get("revoked_by") and not t.get("deprecated"))
    print(f"wrote {args.out}: ATT&CK v{version}, {len(techniques)} techniques ({live} live)", file=sys.stderr)


if __name__ == "__main__":
    main()
