"""The one vertebral-height table (hbiview.labels.VERTEBRA_HEIGHT_MM) against the synthetic spine."""

from __future__ import annotations

import numpy as np

from hbiview import sample
from hbiview.labels import VERTEBRA_HEIGHT_MM, VERTEBRAE, typical_vertebra_centres_mm


def test_the_table_is_the_synthetic_spines_mean_per_region() -> None:
    # the sample patient's spine gives each level its body and disc height (typical adult values); the one
    # table must agree with its regional means within rounding to the millimetre (0.5 mm)
    spec = {name: body + disc for name, body, disc, *_ in sample._SPINE_SPEC}
    for region in "CTL":
        mean = np.mean([h for name, h in spec.items() if name[0] == region])
        assert abs(mean - VERTEBRA_HEIGHT_MM[region]) <= 0.5, (region, mean)


def test_centres_step_by_the_table() -> None:
    centres = np.array(typical_vertebra_centres_mm())
    assert len(centres) == len(VERTEBRAE)
    # consecutive centres lie half of one height plus half of the next apart (closed form)
    halves = np.array([VERTEBRA_HEIGHT_MM[n[0]] / 2 for n in VERTEBRAE])
    np.testing.assert_allclose(np.diff(centres), halves[:-1] + halves[1:])
