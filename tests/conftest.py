"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("HBIVIEW_NO_PROGRESS", "1")


def _shared_candidates() -> list[Path]:
    env = os.environ.get("HBIVIEW_SHARED")
    found = [Path(env)] if env else []
    return [*found, REPO.parent / "shared"]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's ``shared/`` folder (reference data, example DICOM-RT case), beside the repository.

    Skips the test when it is not there: those files are never copied into the repository.
    """
    for candidate in _shared_candidates():
        if (candidate / "reference").is_dir():
            return candidate
    pytest.skip("../shared/ (reference data beside the repository) is not on this machine")


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    """``shared/reference/``: measured beam data, tables and clinical figures with their sources."""
    return shared_dir / "reference"


@pytest.fixture(scope="session")
def dicompyler_dir(shared_dir: Path) -> Path:
    """``shared/data/dicompyler_example/``: a real anonymised DICOM-RT case."""
    path = shared_dir / "data" / "dicompyler_example"
    if not path.is_dir():
        pytest.skip("shared/data/dicompyler_example is not on this machine")
    return path


@pytest.fixture(scope="session")
def sample_ct_dir() -> Path:
    """The bundled sample patient, ``sample_ct/`` at the repository root."""
    path = REPO / "sample_ct"
    if not any(path.glob("*.dcm")):
        pytest.fail("sample_ct/ holds no DICOM files: regenerate it with 'python -m hbiview.sample'")
    return path
