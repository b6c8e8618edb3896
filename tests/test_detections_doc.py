"""docs/detections.md keeps up with the detections: every analytic id, every config.yaml threshold
and every in-house Sigma rule title is named there (renaming one without the doc fails here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DETECT = ROOT / "src" / "wormsign" / "detect"
DOC = ROOT / "docs" / "detections.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text("utf-8")


def _rule_ids() -> list[str]:
    ids = []
    for p in sorted((DETECT / "rules").glob("*.yaml")):
        d = yaml.safe_load(p.read_text("utf-8"))
        ids.append(str(d["id"]))
    return ids


def _config_keys() -> list[str]:
    return [str(k) for k in yaml.safe_load((DETECT / "config.yaml").read_text("utf-8"))]


def _sigma_titles() -> list[str]:
    titles = []
    for p in sorted((DETECT / "sigma" / "rules").rglob("*.y*ml")):
        for d in yaml.safe_load_all(p.read_text("utf-8")):
            if isinstance(d, dict) and d.get("title"):
                titles.append(str(d["title"]))
    return titles


def test_sources_found() -> None:
    assert len(_rule_ids()) >= 10
    assert len(_config_keys()) >= 20
    assert len(_sigma_titles()) >= 10


@pytest.mark.parametrize("rule_id", _rule_ids())
def test_every_rule_id_is_documented(doc: str, rule_id: str) -> None:
    assert f"`{rule_id}`" in doc, (
        f"rule {rule_id!r} is not in docs/detections.md (run scripts/gen_detections_doc.py)"
    )
    assert f"### {rule_id}\n" in doc, f"rule {rule_id!r} has no section in docs/detections.md"


@pytest.mark.parametrize("key", _config_keys())
def test_every_threshold_is_documented(doc: str, key: str) -> None:
    assert f"`{key}`" in doc, f"config.yaml key {key!r} is not in docs/detections.md"


@pytest.mark.parametrize("title", _sigma_titles())
def test_every_sigma_title_is_documented(doc: str, title: str) -> None:
    assert title in doc, f"Sigma rule {title!r} is not in docs/detections.md"


def test_rule_titles_and_sigma_settings_are_documented(doc: str) -> None:
    for p in sorted((DETECT / "rules").glob("*.yaml")):
        assert str(yaml.safe_load(p.read_text("utf-8"))["title"]) in doc, p.name
    for k in yaml.safe_load((DETECT / "sigma" / "settings.yaml").read_text("utf-8")):
        assert f"`{k}`" in doc, k


def test_doc_is_what_the_generator_writes(doc: str) -> None:
    """Edits go into scripts/gen_detections_doc.py (its prose) or the data it reads, never into
    the doc alone: a hand edit is lost at the next regeneration."""
    import importlib.util

    path = ROOT / "scripts" / "gen_detections_doc.py"
    spec = importlib.util.spec_from_file_location("gen_detections_doc", path)
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.render() == doc, "docs/detections.md is out of date: run scripts/gen_detections_doc.py"
