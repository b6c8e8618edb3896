"""The REST API and web dashboard of ``wormsign serve``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wormsign.api.app import create_app
    from wormsign.api.auth import load_or_create, token_path

__all__ = ["create_app", "load_or_create", "token_path"]

_WHERE = {"create_app": "wormsign.api.app", "load_or_create": "wormsign.api.auth",
          "token_path": "wormsign.api.auth"}


def __getattr__(name: str) -> Any:
    # Loaded when first named, not with the package: a hunt imports wormsign.api.published (to
    # tell a running server about its results) and would otherwise load FastAPI and pydantic
    # (about 0.25 s at every start).
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'wormsign.api' has no attribute {name!r}")
