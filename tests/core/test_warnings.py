"""hbiview's warnings collected in one thread while another issues its own (hbiview.errors)."""

from __future__ import annotations

import threading

import pytest

from hbiview.errors import HbiviewWarning, collected_warnings, warn


def test_collected_warnings_stay_in_their_thread() -> None:
    inside = threading.Event()
    go_on = threading.Event()
    result: list[list[str]] = []

    def collect() -> None:
        with collected_warnings() as said:
            warn("from the worker, first")
            inside.set()
            go_on.wait(10.0)
            warn("from the worker, second")
        result.append(said)

    worker = threading.Thread(target=collect)
    worker.start()
    assert inside.wait(10.0)
    # while the worker collects, this thread's warnings are issued as ever (and the worker's are not)
    with pytest.warns(HbiviewWarning) as record:
        warn("from the main thread")
    go_on.set()
    worker.join(10.0)
    assert [str(w.message) for w in record] == ["from the main thread"]
    assert result == [["from the worker, first", "from the worker, second"]]


def test_collected_warnings_nest_and_end_with_their_block() -> None:
    with collected_warnings() as outer:
        warn("outer")
        with collected_warnings() as inner:
            warn("inner")
        warn("outer again")
    assert outer == ["outer", "outer again"]
    assert inner == ["inner"]
    with pytest.warns(HbiviewWarning, match="after the block"):  # issued again once the block is left
        warn("after the block")
