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
    """The case's token, and whether it was made just now (then it is printed, once).

    An existing token file is used only when it is a regular file (not a link), owned by this
    user, and closed to group and others: anyone else who could write it could plant a token
    they know, and anyone who could read it could call the API.
    """
    path = token_path(case_path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path), False
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    return token, True


def _read(path: Path) -> str:
    """The token in an existing file, after checking (on the open file itself) who may change it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        if path.is_symlink():
            raise PermissionError(f"{path}: token file is not a regular file (a link); delete it") from None
        raise PermissionError(f"{path}: cannot open the token file: {e.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise PermissionError(f"{path}: token file is not a regular file; delete it")
        me = os.geteuid() if hasattr(os, "geteuid") else None
        if me is not None and st.st_uid != me:
            raise PermissionError(
                f"{path}: token file is owned by uid {st.st_uid}, not by you (uid {me}); "
                "someone else may have planted it: check it, delete it, and start again"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise PermissionError(f"{path}: token file is open to group or others (mode {mode:o}); chmod 600 it")
        token = fh.read(4096).decode("ascii", "replace").strip()
    if len(token) < 32 or not token.isascii() or not token.isprintable():
        raise ValueError(f"{path}: not a wormsign token; delete it to make a new one")
    return token


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
