"""Fixtures of the rendering tests: one small synthetic patient, shared by the whole session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import make_case


@pytest.fixture(scope="session")
def case():
    """``(ct, structures, dose, plan)`` of the synthetic patient (8 mm CT, 10 mm dose grid)."""
    return make_case()


@pytest.fixture(scope="session")
def anatomy(case):
    """Surfaces of the synthetic patient's structures, made once."""
    from hbiview.render.scene import prepare_anatomy

    return prepare_anatomy(case[1], bone="skeleton")
