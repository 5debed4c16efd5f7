"""Partial scans of the synthetic patient: landmarks beyond the scan and the preset borders placed on them.

The synthetic patient shares the proportions table's figures, so these tests check the logic (which side,
never inside the scan, borders at the scan's end with the warning); the accuracy of the estimates is
measured on the ICRP 110 phantom and a real CT in ``test_landmarks_real.py``.
"""

from __future__ import annotations

import re
import warnings

import pytest

from hbiview.anatomy.landmarks import estimate_from_found, locate_missing, stature_fractions
from hbiview.anatomy.types import Landmark
from hbiview.errors import HbiviewWarning, PlanError
from hbiview.plans import preset
from hbiview.sample import make_phantom

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def test_estimates_follow_the_landmarks_found_not_the_scan():
    f = stature_fractions()
    # a patient of 1600 mm standing on z = -900: two landmarks give soles and stature exactly (closed form)
    known = {"lung_apex": -900.0 + 1600.0 * f["lung_apex"], "iliac_crest": -900.0 + 1600.0 * f["iliac_crest"]}
    est, basis = estimate_from_found(known)
    assert est["skull_base"] == pytest.approx(-900.0 + 1600.0 * f["skull_base"], abs=1e-6)
    assert est["soles"] == pytest.approx(-900.0, abs=1e-6) and basis == "the lung apex and iliac crest"
    # one landmark: the typical adult stature (1700 mm) scales the proportions
    est, _ = estimate_from_found({"iliac_crest": 0.0})
    assert est["skull_base"] == pytest.approx(1700.0 * (f["skull_base"] - f["iliac_crest"]), abs=1e-6)
    assert estimate_from_found({}) == ({}, "")


def test_a_missing_landmark_lies_beyond_the_end_its_neighbours_say_never_inside():
    marks = {
        "skull_base": Landmark(None, 0.0, "not in scan: no skull enclosing the brain found"),
        "lung_apex": Landmark(100.0, 0.9, "highest slice with lung"),
        "lung_base": Landmark(-60.0, 0.8, "dome"),
        "iliac_crest": Landmark(None, 0.0, "not in scan: no iliac crests found"),
    }
    # the scan from -100 to 120 mm: the estimate of the skull base (about 100 + 0.075 x stature) is above
    # it; were it to fall inside, it would be moved to the scan's end, never left inside
    out = locate_missing(marks, (-100.0, 120.0))
    assert out["skull_base"].position == "above_scan" and out["skull_base"].estimate_mm >= 120.0
    assert out["iliac_crest"].position == "below_scan" and out["iliac_crest"].estimate_mm <= -100.0
    assert "lies above the scan" in out["skull_base"].note
    # a landmark between two found ones, not found: inside the scan, side unknown, estimate as it comes
    marks["lung_base"] = Landmark(None, 0.0, "not in scan: no lungs found")
    marks["iliac_crest"] = Landmark(-250.0, 0.8, "crest")
    out = locate_missing(marks, (-300.0, 120.0))
    assert out["lung_base"].position is None and -300.0 < out["lung_base"].estimate_mm < 100.0


@pytest.fixture(scope="module")
def thorax():
    # the synthetic patient (1750 mm, soles at z = 0) scanned from the diaphragm to the root of the neck
    return make_phantom(spacing_mm=(10.0, 7.0, 7.0), z_range_mm=(1150.0, 1530.0), noise_hu=0.0)


def test_thorax_only_upper_hbi_covers_the_scan_and_says_it_continues(thorax):
    ct = thorax.ct
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HbiviewWarning)
        plan = preset("upper-hbi", ct)
    messages = " ".join(str(w.message) for w in caught)
    z = ct.geometry.axis_coordinates_mm()[0]
    low, high = float(z.min()) - 5.0, float(z.max()) + 5.0  # slice edges (10 mm slices)
    z_low, z_high = (float(v) for v in re.search(r"z (-?\d+) to (-?\d+) mm", plan.description).groups())
    # the whole scan to both ends (within a slice and the presets' 5 mm body grid), not 85 mm mid-chest
    assert z_high >= high - 15.0 and z_low <= low + 15.0, (z_low, z_high)
    for text in (plan.description, messages):
        assert "continues beyond the images" in text
        assert "superior border (skull base) lies above the scan" in text
        assert "inferior border (iliac crest) lies below the scan" in text
    # lower HBI (iliac crest to ankles) lies entirely below this scan: refused, not squeezed into it
    with pytest.raises(PlanError, match="lies entirely below the scan"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HbiviewWarning)
            preset("lower-hbi", ct)


def test_borders_given_as_numbers_are_placed_the_same_way(thorax):
    # landmarks given by the user (numbers, None for what is not in the scan)
    ct = thorax.ct
    given = {"lung_apex": thorax.landmarks_mm["lung_apex"], "lung_base": thorax.landmarks_mm["lung_base"]}
    with pytest.warns(HbiviewWarning, match="continues beyond the images"):
        plan = preset("upper-hbi", ct, landmarks=given)
    assert "skull base) lies above the scan" in plan.description
