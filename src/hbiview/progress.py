"""A small progress bar on stderr, silent when stderr is not a terminal or when asked to be quiet."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress", "set_quiet"]

T = TypeVar("T")
_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) every progress bar of this process."""
    global _QUIET
    _QUIET = quiet


def _enabled() -> bool:
    if _QUIET or os.environ.get("HBIVIEW_NO_PROGRESS"):
        return False
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress(
    items: Iterable[T], total: int | None = None, desc: str = "", min_seconds: float = 1.0
) -> Iterator[T]:
    """Yield ``items`` while drawing a bar on stderr once the loop has run longer than ``min_seconds``.

    Parameters
    ----------
    items
        What to iterate over.
    total
        Number of items, if ``items`` has no ``len``.
    desc
        A few words shown before the bar, e.g. ``"reading CT"``.
    min_seconds
        Quick loops (shorter than this, in seconds) draw nothing.
    """
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    enabled = _enabled()
    start = time.perf_counter()
    last_draw = 0.0
    drawn = False
    count = 0
    for item in items:
        yield item
        count += 1
        if not enabled:
            continue
        now = time.perf_counter()
        if now - start < min_seconds or now - last_draw < 0.1:
            continue
        last_draw = now
        drawn = True
        elapsed = now - start
        if total:
            frac = min(count / total, 1.0)
            bar = "#" * int(frac * 30)
            eta = elapsed / frac - elapsed if frac > 0 else 0.0
            line = f"\r{desc} [{bar:<30}] {count}/{total} {elapsed:4.1f}s eta {eta:4.1f}s"
        else:
            line = f"\r{desc} {count} {elapsed:4.1f}s"
        sys.stderr.write(line)
        sys.stderr.flush()
    if drawn:
        sys.stderr.write("\r" + " " * 79 + "\r")
        sys.stderr.flush()
