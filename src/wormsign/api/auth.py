"""The API token: made on first start, kept beside the case (mode 0600), checked on every request."""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


def token_path(case_path: str | Path) -> Path:
    """Where the token of a case lives: ``CASE.token`` beside the case file."""
    p = Path(case_path)
    return p.with_name(p.name + ".token")


def load_or_create(case_path: str | Path) -> tuple[str, bool]:
    """The case's token, and whether it was made just now (then it is printed, once)."""
    path = token_path(case_path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PermissionError(
                f"{path}: token file is readable by others (mode {mode:o}); chmod 600 it"
            ) from None
        token = path.read_text("ascii").strip()
        if len(token) < 32:
            raise ValueError(f"{path}: not a wormsign token; delete it to make a new one") from None
        return token, False
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    return token, True


_BEARER = HTTPBearer(auto_error=False, description="The token `wormsign serve` printed.")


class TokenAuth:
    """FastAPI dependency: the request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._token = token.encode("ascii")

    async def __call__(self, cred: HTTPAuthorizationCredentials | None = Depends(_BEARER)) -> None:  # noqa: B008
        given = cred.credentials.encode("utf-8", "replace") if cred else b""
        if not given or not hmac.compare_digest(given, self._token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing or wrong token", headers={"WWW-Authenticate": "Bearer"}
            )
