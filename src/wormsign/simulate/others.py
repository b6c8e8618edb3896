"""WannaCry (SMB exploit fan-out), NotPetya (stolen credentials, PsExec/WMIC) and password spray."""

from __future__ import annotations

from collections.abc import Callable

HANDLERS: dict[str, Callable[..., None]] = {}
