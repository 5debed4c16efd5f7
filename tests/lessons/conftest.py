"""Fixtures of the lesson tests: the sample patient segmented once, each lesson run once (quick mode)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def lesson_case(sample_ct_dir: Path) -> Any:
    """The bundled sample patient with its structures, shared by every lesson (segmented once)."""
    from hbiview.pipeline import load_case

    case = load_case(sample_ct_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case.structures  # noqa: B018 - segment now, once
    return case


@pytest.fixture(scope="session")
def run_quick(
    lesson_case: Any, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[int], tuple[Path, dict]]:
    """``run_quick(n) -> (out_dir, numbers)``: lesson ``n`` run once per session in quick mode.

    Quick mode (10 mm dose grids for hemi-body fields, 5 mm for the spine field, smaller pictures) keeps the
    lessons to about half a minute; the asserted numbers carry tolerances wide enough for that grid.
    """
    from hbiview.lessons import run_lesson

    done: dict[int, tuple[Path, dict]] = {}

    def run(number: int) -> tuple[Path, dict]:
        if number not in done:
            out = tmp_path_factory.mktemp(f"lesson{number:02d}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                done[number] = (out, run_lesson(number, out, quick=True, case=lesson_case))
        return done[number]

    return run
