"""Progress of long work: a bar on a terminal, one plain line per step everywhere else.

Every long stage (encoding, concept mining, the graph, the interest space, profiles, the signals,
fusion learning, each model's training and evaluation) runs inside :func:`step` and iterates
through :func:`bar`. Lines go to the ``interestlm.progress`` logger, so a library user sees nothing until
they configure logging, and the command line prints them on stderr (``--quiet`` turns them off).
Bars switched on by :func:`set_bars` (the command line's default) appear only while stderr is a
terminal: a run with its output redirected to a file gets one readable line per step instead of
carriage-return noise. A caller who passes ``progress=True`` gets a bar wherever stderr goes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

#: Progress lines only: the service's loggers (``interestlm.serve``) are configured apart.
LOG = logging.getLogger("interestlm.progress")

_BARS = {"on": False}


def set_bars(on: bool) -> None:
    """Show progress bars on a terminal (the command line does; the library default is off)."""
    _BARS["on"] = on


def bars_shown(asked: bool = False) -> bool:
    """Whether a bar is drawn: asked for by the caller (``progress=True``), or switched on by
    :func:`set_bars` while stderr is a terminal (a log file gets the step lines instead)."""
    return asked or (_BARS["on"] and sys.stderr.isatty())


def bar(
    iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it", asked: bool = False
) -> tqdm[T]:
    """``iterable`` wrapped in a tqdm bar (on stderr) when :func:`bars_shown`, else passed through."""
    shown = bars_shown(asked)
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, disable=not shown, file=sys.stderr)


@contextmanager
def step(name: str) -> Iterator[None]:
    """Log ``name ...`` when the block starts and ``name: N.N s`` when it ends (``failed after``
    when it raises), so a long step is visible while it runs, also in a log file."""
    start = time.perf_counter()
    LOG.info("%s ...", name)
    try:
        yield
    except BaseException:
        LOG.info("%s: failed after %.1f s", name, time.perf_counter() - start)
        raise
    LOG.info("%s: %.1f s", name, time.perf_counter() - start)


def note(message: str, *args: object) -> None:
    """One progress line (e.g. an epoch's loss) through the ``interestlm`` logger."""
    LOG.info(message, *args)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at each line (a test harness swaps and closes it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def log_to_stderr(*, quiet: bool = False) -> None:
    """Print progress lines on stderr (``quiet``: warnings only) and draw bars on a terminal."""
    handler = _CurrentStderr(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    LOG.handlers[:] = [handler]
    LOG.setLevel(logging.WARNING if quiet else logging.INFO)
    LOG.propagate = False
    set_bars(not quiet)
    # Redirected to a file, stdout is block-buffered: results would appear only at exit, after
    # every progress line on stderr. Line buffering keeps the two in the order they happened.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)
