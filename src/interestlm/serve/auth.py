"""Bearer-token API keys: required for every write, optionally for reads.

Keys are held only as SHA-256 digests and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from fastapi import HTTPException, Request, status

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeys:
    """A set of accepted keys; :meth:`check` raises 401 unless the request carries one."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(k) for k in sorted(set(keys)))

    def __len__(self) -> int:
        return len(self._digests)

    def valid(self, key: str) -> bool:
        """Whether ``key`` is one of the accepted keys (constant time per key)."""
        d = _digest(key)
        found = False
        for known in self._digests:
            found |= hmac.compare_digest(d, known)
        return found

    def check(self, request: Request) -> None:
        """Raise 401 (missing or wrong key) or 403 (no keys configured: writes are off)."""
        if not self._digests:
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
        if not self.valid(token.strip()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="invalid API key", headers=_CHALLENGE)
