"""``python -m wormsign.demo``: regenerate the shipped demo files."""

from __future__ import annotations

from wormsign.demo import build, path

if __name__ == "__main__":
    t = build(path())
    print(f"demo: {len(t['infections'])} infected, {t['_stats']['events']:,} records in {path()}")
