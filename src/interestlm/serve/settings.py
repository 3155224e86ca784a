"""Service settings: the one place of the library that reads environment variables and a settings file.

Precedence, lowest to highest: defaults, the ``[serve]`` table of a TOML file, ``INTERESTLM_*``
environment variables, explicit overrides (the command line).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

#: Environment variable -> settings field.
ENV_VARS: dict[str, str] = {
    "INTERESTLM_API_KEYS": "api_keys",
    "INTERESTLM_API_KEYS_FILE": "api_keys_file",
    "INTERESTLM_STORE": "store_path",
    "INTERESTLM_STORE_URL": "store_url",
    "INTERESTLM_READ_AUTH": "read_auth",
    "INTERESTLM_PUBLIC_READS": "public_reads",
    "INTERESTLM_MAX_BODY_BYTES": "max_body_bytes",
    "INTERESTLM_REFRESH_LISTS": "refresh_lists",
    "INTERESTLM_SYNCHRONOUS": "synchronous",
    "INTERESTLM_CACHE_SIZE": "cache_size",
    "INTERESTLM_WARM": "warm",
    "INTERESTLM_CACHE_BYTES": "cache_bytes",
    "INTERESTLM_COMPUTE_WORKERS": "compute_workers",
    "INTERESTLM_BLAS_THREADS": "blas_threads",
    "INTERESTLM_COMPUTE_QUEUE": "compute_queue",
    "INTERESTLM_QUEUE_WAIT": "queue_wait",
    "INTERESTLM_NEW_STORE": "new_store",
    "INTERESTLM_STORE_MARKER": "store_marker",
    "INTERESTLM_SNAPSHOT_EVERY": "snapshot_every",
    "INTERESTLM_SNAPSHOT_DIR": "snapshot_dir",
    "INTERESTLM_FOLLOW_INTERVAL": "follow_interval",
    "INTERESTLM_FOLLOW_NOTIFY": "follow_notify",
}


class ServeSettings(BaseModel):
    """How the HTTP service runs: keys, store, limits. Immutable once built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_keys: tuple[str, ...] = Field(default=(), repr=False, description="accepted bearer tokens")
    api_keys_file: Path | None = Field(default=None, description="file with one API key per line")
    read_auth: bool = Field(
        default=True, description="require a key for reads (the default now; kept so old settings still load)"
    )
    public_reads: bool = Field(
        default=False,
        description="let anyone read any user's recommendations and profile, /metrics and /healthz counts "
        "(writes still need a key)",
    )
    store_path: Path | None = Field(
        default=None, description="SQLite file of the event log (default: store.sqlite3 in the artifacts directory)"
    )
    store_url: str | None = Field(
        default=None,
        repr=False,
        description="postgresql://user:password@host/db: keep the event log in PostgreSQL instead of SQLite",
    )
    new_store: bool = Field(
        default=False,
        description="serve the store as it is even if its marker says it is missing, empty, foreign or truncated",
    )
    store_marker: Path | None = Field(
        default=None,
        description="the file recording the store's identity and last seq (default: STORE.marker.json beside a "
        "SQLite store; ARTIFACTS_DIR.store-marker-<digest of the URL>.json for PostgreSQL)",
    )
    snapshot_every: int = Field(
        default=2_000,
        ge=0,
        description="write a snapshot of profiles and added items every this many log rows, so start-up "
        "replays only the tail (0: never; also written at shutdown)",
    )
    snapshot_dir: Path | None = Field(
        default=None,
        description="where snapshots go (default: STORE.snapshot beside a SQLite store; "
        "ARTIFACTS_DIR.snapshot-<digest of the URL> for PostgreSQL)",
    )
    follow_interval: float = Field(
        default=1.0,
        ge=0.0,
        le=3600.0,
        description="PostgreSQL log only: apply other replicas' rows, woken by their NOTIFY and at least every "
        "this many seconds (0: this process is the log's only writer and does not follow it; no effect on SQLite)",
    )
    follow_notify: bool = Field(
        default=True,
        description="wake the follower with LISTEN/NOTIFY (off: poll every follow_interval seconds only)",
    )
    max_body_bytes: int = Field(default=1_000_000, gt=0, description="larger request bodies get 413")
    refresh_lists: int = Field(
        default=256,
        ge=0,
        description="cached lists recomputed on the new catalogue before an item upload is swapped in "
        "(most recently used first; the rest are recomputed when next read)",
    )
    synchronous: str = Field(default="FULL", description="SQLite synchronous pragma: FULL survives power loss")
    cache_size: int = Field(
        default=50_000, ge=0, description="recommendation lists kept until their user or the catalogue changes (0: off)"
    )
    warm: bool = Field(default=False, description="compute every known user's top-10 at start-up")
    cache_bytes: int = Field(
        default=256 * 2**20, ge=0, description="bytes the recommendation cache may hold (payloads and keys)"
    )
    compute_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="recommendation lists computed at once (ranking holds the GIL in parts: more threads "
        "than one add latency, not throughput; run more processes to use more cores)",
    )
    blas_threads: int = Field(
        default=1,
        ge=0,
        le=64,
        description="BLAS threads while serving (0: the library's default). One list's matrix products are "
        "thin: split over two threads they were no faster on an idle machine and up to 10x slower on a busy "
        "one, so each compute worker runs its products on one core",
    )
    compute_queue: int = Field(
        default=4, ge=0, le=10_000, description="lists waiting for a worker; beyond it: 503 with Retry-After"
    )
    queue_wait: float = Field(
        default=0.05, ge=0.0, le=60.0, description="seconds a list may wait for a worker before its 503"
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("store_url must be a postgresql:// URL (a SQLite store is set with store_path)")
        return value

    @field_validator("synchronous")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        if value.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA (OFF would break acknowledged = durable)")
        return value.upper()

    def keys(self) -> frozenset[str]:
        """Every accepted API key: the inline ones plus those in ``api_keys_file``."""
        keys = set(self.api_keys)
        if self.api_keys_file is not None:
            keys.update(read_api_keys(self.api_keys_file))
        return frozenset(keys)

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> ServeSettings:
        """Defaults < ``[serve]`` in the TOML file ``path`` < ``INTERESTLM_*`` variables < ``overrides``."""
        values: dict[str, Any] = {}
        if path is not None:
            try:
                table = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("serve", {})
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: not valid TOML: {exc}") from None
            if not isinstance(table, dict):
                raise ValueError(f"{path}: [serve] must be a table")
            values.update(table)
        env = os.environ if environ is None else environ
        for var, name in ENV_VARS.items():
            if env.get(var):
                values[name] = env[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"invalid serve settings: {problems}") from None


def read_api_keys(path: Path) -> list[str]:
    """Key lines from a file, one per line (``KEY`` or ``sha256:HEX``, optionally ``user=USER_ID``);
    blank lines and ``#`` comments are ignored; a malformed line is an error naming it."""
    from interestlm.serve.auth import parse_key_line

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"API keys file {path} does not exist") from None
    keys = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            parse_key_line(line)
        except ValueError as exc:
            raise ValueError(f"{path}, line {lineno}: {exc}") from None
        keys.append(" ".join(line.split()))
    return keys
