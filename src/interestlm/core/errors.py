"""The library's typed errors, and reports of what input validation rejected.

Every error interestlm raises on purpose is an :class:`InterestLMError`; the service maps the
client-side ones to HTTP statuses (bad input 422/400, unknown id 404, conflict 409, not fitted
503) and anything else to a 500 with a request id. Each subclass also derives from the builtin
exception a caller would have caught before (``ValueError``, ``LookupError``, ``RuntimeError``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Literal

OnError = Literal["raise", "skip"]


class InterestLMError(Exception):
    """Base of every error the library raises on purpose."""


class BadInputError(InterestLMError, ValueError):
    """Input that breaks a documented rule (a value out of range, a malformed field, a bad config)."""


class ConfigError(BadInputError):
    """An invalid configuration: unknown key, signal name or enum value (the valid ones are listed)."""


class UnknownIdError(InterestLMError, LookupError):
    """A user, item or concept that the recommender does not know (HTTP 404, CLI exit 2).

    ``suggestions`` lists close known names ("did you mean ..."), when there are any.
    """

    def __init__(self, message: str, *, suggestions: Sequence[str] = ()) -> None:
        self.suggestions = list(suggestions)
        if self.suggestions:
            message = f"{message}; did you mean {', '.join(repr(s) for s in self.suggestions)}?"
        super().__init__(message)

    def __str__(self) -> str:
        # LookupError's __str__ quotes a single argument like KeyError; keep the plain message.
        return str(self.args[0]) if self.args else ""


class UnknownConceptError(UnknownIdError, BadInputError):
    """A pinned / muted concept name that matches no concept (HTTP 422 with suggestions)."""


class NotFittedError(InterestLMError, RuntimeError):
    """A method that needs a fitted model was called before ``fit`` (or ``load``)."""


class ConflictError(InterestLMError):
    """A request that conflicts with the current state (e.g. artifacts from another fit; HTTP 409)."""


def close_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``known`` spelled closest to ``name`` (for "did you mean" messages)."""
    return get_close_matches(name, list(known), n=n, cutoff=0.6)


class DataError(BadInputError):
    """A malformed input row: names the file, the 1-based line and the field."""

    def __init__(self, path: str, line: int, field_name: str, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field_name
        self.message = message
        super().__init__(f"{path}:{line}: field {field_name!r}: {message}")


@dataclass
class LoadReport:
    """What a reader accepted and rejected, per file. Nothing is dropped without a count here."""

    accepted: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    #: The first rejected rows' messages (capped), so a user can see what went wrong.
    examples: list[str] = field(default_factory=list)
    #: Other counted adjustments, e.g. ``{"items without metadata": 12}``.
    notes: dict[str, int] = field(default_factory=dict)
    #: Which source column each field was read from, where a reader guessed or was told them
    #: (``{"user": "userId", "item": "movieId", ...}``; item-table fields as ``items.title``).
    columns: dict[str, str] = field(default_factory=dict)

    max_examples: int = 20

    def accept(self, path: str, n: int = 1) -> None:
        """Count ``n`` accepted rows of ``path``."""
        self.accepted[path] = self.accepted.get(path, 0) + n

    def reject(self, error: DataError) -> None:
        """Count one rejected row and keep its message if there is room."""
        self.rejected[error.path] = self.rejected.get(error.path, 0) + 1
        if len(self.examples) < self.max_examples:
            self.examples.append(str(error))

    def note(self, what: str, n: int) -> None:
        """Count an adjustment that is not a rejection (kept visible in ``describe``)."""
        if n:
            self.notes[what] = self.notes.get(what, 0) + n

    @property
    def n_rejected(self) -> int:
        """Total rejected rows over all files."""
        return sum(self.rejected.values())

    def merge(self, other: LoadReport) -> None:
        """Add another report's counts into this one."""
        for k, v in other.accepted.items():
            self.accepted[k] = self.accepted.get(k, 0) + v
        for k, v in other.rejected.items():
            self.rejected[k] = self.rejected.get(k, 0) + v
        for k, v in other.notes.items():
            self.notes[k] = self.notes.get(k, 0) + v
        self.columns.update(other.columns)
        room = self.max_examples - len(self.examples)
        self.examples.extend(other.examples[: max(room, 0)])

    def summary(self) -> str:
        """Human-readable lines: accepted and rejected rows per file, notes, first errors."""
        lines = [
            f"{path}: {n} rows accepted, {self.rejected.get(path, 0)} rejected" for path, n in self.accepted.items()
        ]
        for path, n in self.rejected.items():
            if path not in self.accepted:
                lines.append(f"{path}: 0 rows accepted, {n} rejected")
        lines.extend(f"{what}: {n}" for what, n in self.notes.items())
        if self.columns:
            lines.append("columns: " + ", ".join(f"{k}={v}" for k, v in self.columns.items()))
        if self.examples:
            lines.append("first rejected rows:")
            lines.extend(f"  {e}" for e in self.examples)
        return "\n".join(lines)


class RowGuard:
    """Applies the on-error policy while a reader walks a file's rows.

    ``handle`` either re-raises (policy ``raise``) or counts the row as rejected (``skip``).
    """

    def __init__(self, report: LoadReport, on_error: OnError) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.report = report
        self.on_error = on_error

    def handle(self, error: DataError) -> None:
        """Raise or count ``error`` according to the policy."""
        if self.on_error == "raise":
            raise error
        self.report.reject(error)
