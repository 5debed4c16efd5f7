"""Fixtures of the web viewer's tests: the sample patient and a model over it at a coarse dose grid."""

from __future__ import annotations

import pytest

#: Dose grid of the tests (mm): coarse, so that a plan takes a second or two; the page uses 5 mm.
GRID_MM = 10.0


@pytest.fixture(scope="session")
def sample_case(sample_ct_dir):
    """The sample patient, segmented once for every test of the viewer."""
    from hbiview.pipeline import load_case

    case = load_case(sample_ct_dir)
    case.anatomy  # noqa: B018 - segment once, here
    return case


@pytest.fixture(scope="session")
def serve_model(sample_case):
    """A model over the sample patient offering upper-hbi and lower-hbi (to the knees: one field) at 10 mm."""
    from hbiview.serve.model import ServeModel

    return ServeModel(
        sample_case, ["upper-hbi", "lower-hbi"], grid_mm=GRID_MM, options=[{}, {"inferior": "knees"}]
    )
