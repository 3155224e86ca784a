"""Bearer-token API keys: admin keys, and user-scoped keys that may read and write one user only.

A key line (in the keys file, or an inline key) is ``KEY`` or ``sha256:HEX`` (the key's SHA-256,
so the file need not hold the key itself), optionally followed by ``user=USER_ID``, which scopes
the key to that one user: their profile, recommendations, events and edits, plus the catalogue
reads that concern no user (similar items, anonymous recommendations). A key without a scope is
an admin key: every user, item uploads, ``/metrics``. Keys are held only as SHA-256 digests and
compared in constant time (every known digest is compared, whatever matches).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_HASHED = re.compile(r"sha256:([0-9a-fA-F]{64})")
#: What a key line looks like (for error messages).
KEY_LINE = "a key of at least 8 characters (or sha256:<64 hex digits>), optionally followed by user=USER_ID"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True, order=True)
class KeySpec:
    """One accepted key: its digest, and the one user it is scoped to (None: an admin key)."""

    digest: bytes
    user_id: str | None = None

    @property
    def admin(self) -> bool:
        """Whether the key may act on every user and on the catalogue."""
        return self.user_id is None


def parse_key_line(line: str) -> KeySpec:
    """``KEY`` / ``sha256:HEX``, optionally followed by ``user=USER_ID``; ValueError otherwise."""
    tokens = line.split()
    if not tokens or len(tokens) > 2:
        raise ValueError(f"an API key is one token: {KEY_LINE}")
    key, user = tokens[0], None
    if len(tokens) == 2:
        name, sep, user = tokens[1].partition("=")
        if name != "user" or not sep or not user:
            raise ValueError(f"an API key is one token: {KEY_LINE}")
    hashed = _HASHED.fullmatch(key)
    if hashed:
        return KeySpec(bytes.fromhex(hashed.group(1)), user)
    if len(key) < 8:
        raise ValueError(f"an API key is one token of at least 8 characters: {KEY_LINE}")
    return KeySpec(_digest(key), user)


class ApiKeys:
    """The accepted keys; :meth:`authorize` raises 401 / 403 unless the request's key may act."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._entries = tuple(sorted({parse_key_line(k) for k in keys}))

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> KeySpec | None:
        """The accepted key ``key`` is, or None (constant time per known key)."""
        d = _digest(key)
        found = None
        for entry in self._entries:
            if hmac.compare_digest(d, entry.digest):
                found = entry
        return found

    def valid(self, key: str) -> bool:
        """Whether ``key`` is one of the accepted keys."""
        return self.lookup(key) is not None

    def check(self, request: Request) -> KeySpec:
        """The request's key; raises 401 (missing or wrong key) or 403 (no keys configured)."""
        if not self._entries:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail="this endpoint needs an API key, and the server has none configured "
                "(start it with --api-keys FILE or INTERESTLM_API_KEYS)",
            )
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing API key: send 'Authorization: Bearer KEY'",
                headers=_CHALLENGE,
            )
        spec = self.lookup(token.strip())
        if spec is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="invalid API key", headers=_CHALLENGE)
        return spec

    def authorize(self, request: Request, user_id: str | None = None, *, admin: bool = False) -> KeySpec:
        """The request's key if it may act on ``user_id`` (any key may act on no user; ``admin``:
        only admin keys); 401 / 403 otherwise. A scoped key is refused the same way whether or not
        the other user exists, so it cannot probe for ids."""
        spec = self.check(request)
        if not spec.admin and (admin or (user_id is not None and user_id != spec.user_id)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this API key is scoped to another user")
        return spec

    def is_admin(self, request: Request) -> bool:
        """Whether the request carries an admin key (never raises)."""
        try:
            return self.check(request).admin
        except HTTPException:
            return False
