"""The REST API and web dashboard of ``wormsign serve``."""

from __future__ import annotations

from wormsign.api.app import create_app
from wormsign.api.auth import load_or_create, token_path

__all__ = ["create_app", "load_or_create", "token_path"]
