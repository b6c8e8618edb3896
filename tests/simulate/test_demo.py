"""The shipped demo is exactly what the simulator makes from its fixed seed, and is small."""

from __future__ import annotations

from pathlib import Path

from wormsign import demo


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_demo_is_reproducible(tmp_path: Path) -> None:
    shipped = _files(demo.path())
    assert "truth.json" in shipped and any(k.startswith("logs/zeek/") for k in shipped)
    t = demo.build(tmp_path / "demo")
    fresh = _files(tmp_path / "demo")
    assert fresh.keys() == shipped.keys()
    assert [k for k in fresh if fresh[k] != shipped[k]] == []
    assert t["scenario"] == "emotet-qakbot" and t["deliveries"] and t["lockouts"]


def test_demo_is_small_and_has_an_outbreak() -> None:
    assert sum(len(b) for b in _files(demo.path()).values()) < 2 * 1024 * 1024
    t = demo.truth()
    fams = {i["family"] for i in t["infections"]}
    assert fams == {"emotet", "qakbot"} and len(t["infections"]) >= 10
    assert demo.logs().is_dir()
