"""Front-end assets of the report and the dashboard: one page, one script, one style sheet."""

from __future__ import annotations

from importlib import resources


class AssetMissing(FileNotFoundError):
    """A bundled browser library is not built (run scripts/build-web.sh)."""


def asset(name: str) -> str:
    """The text of one asset in this folder (``vendor/`` holds the bundled libraries)."""
    node = resources.files("wormsign.web")
    for part in name.split("/"):
        node = node.joinpath(part)
    if not node.is_file():
        raise AssetMissing(f"{name} is not in the wormsign package; run scripts/build-web.sh to bundle it")
    return node.read_text("utf-8")


def bundled() -> bool:
    """True when scripts/build-web.sh has bundled the graph library into the package."""
    return resources.files("wormsign.web").joinpath("vendor").joinpath("cytoscape.min.js").is_file()
