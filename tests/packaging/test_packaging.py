"""Packaging: the licence and notice files, PEP 639 metadata, and no dependency declared that
the code never imports."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def test_licence_files_and_metadata() -> None:
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    licence = (ROOT / "LICENSE").read_text("utf-8")
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    for pattern in project["license-files"]:
        assert list(ROOT.glob(pattern)), pattern  # PEP 639: every pattern must match a file
    # setuptools reads PEP 639's license expression and license-files from 77 on
    requires = " ".join(_pyproject()["build-system"]["requires"])
    assert re.search(r"setuptools>=(\d+)", requires) and int(re.search(r"setuptools>=(\d+)", requires)[1]) >= 77


def test_notice_names_what_is_bundled() -> None:
    notice = (ROOT / "NOTICE").read_text("utf-8")
    web = ROOT / "src" / "wormsign" / "web"
    assert "Cytoscape" in notice and "LICENSES/cytoscape.txt" in notice
    assert '"cytoscape"' in (web / "package.json").read_text("utf-8")  # the one library the build bundles
    assert (ROOT / "LICENSES" / "cytoscape.txt").read_text("utf-8").startswith("Copyright (c)")
    vendor = web / "vendor"
    for f in vendor.glob("*.js") if vendor.is_dir() else ():
        assert f.stem.split(".")[0].lower() in notice.lower(), f.name
        assert (vendor / (f.stem.split(".")[0] + ".LICENSE")).is_file(), f.name


def _imports() -> set[str]:
    """Every module name the package imports, with its parent packages."""
    names: set[str] = set()
    for py in (ROOT / "src" / "wormsign").rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text("utf-8"))):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for m in mods:
                parts = m.split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return names


def _modules(dist: str) -> set[str]:
    """The dotted names of the modules and packages a distribution installs."""
    out = set()
    for f in metadata.files(dist) or ():
        p = str(f)
        if p.endswith((".py", ".so", ".pyd")) and ".dist-info" not in p and not p.startswith(".."):
            parts = p.split(".", 1)[0].split("/")
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out.add(".".join(parts))
    return out


def test_every_dependency_is_imported() -> None:
    """A declared dependency is imported by the package (a namespace shared by several
    distributions, such as pySigma's ``sigma``, counts the modules each one ships)."""
    imported = _imports()
    for req in _pyproject()["project"]["dependencies"]:
        dist = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0]
        mods = _modules(dist)
        assert mods, f"{dist} is not installed"
        own = {m for m in mods if not any(m.startswith(o + ".") for o in mods)}  # its top modules
        assert imported & mods and own, f"{dist} is declared but nothing imports it"
