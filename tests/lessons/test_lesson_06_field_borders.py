"""Lesson 6 (field borders): marrow split vs border, and the junction of sequential fields."""

from __future__ import annotations

import pytest
from lessoncheck import check_outputs

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

ICRP110_ABOVE_CREST = 0.63  # hbi_marrow_split_icrp110.csv: 0.631 male, 0.630 female


def test_outputs(run_quick):
    out, numbers = run_quick(6)
    check_outputs(out, numbers)


def test_split(run_quick):
    numbers = run_quick(6)[1]
    split = numbers["split"]
    # the issue's +-0.05 on the ICRP 110 split
    assert split["crest"]["above_border"] == pytest.approx(ICRP110_ABOVE_CREST, abs=0.05)
    # moving the border up (crest -> L4-L5 disc is a few mm here) can only move marrow below it
    z = numbers["z_mm"]
    if z["L4-L5"] > z["iliac_crest"]:
        assert split["L4-L5"]["above_border"] <= split["crest"]["above_border"]
    # the lumbar spine and sacrum hold ~22 % of the marrow over ~20 cm: 0.3-2 % per cm near the crest
    # (ICRP 110: 3.2 % between a mid-lumbar border and the crest, about 5 cm)
    assert 0.003 <= numbers["split_per_cm"] <= 0.02
    # the dose-based split agrees with the weights: the fields' 50 % edges are at the border at midplane
    for key in ("L4-L5", "crest"):
        s = split[key]
        assert s["lower_in_field"] == pytest.approx(1 - s["above_border"], abs=0.02)


def test_junction(run_quick):
    junction = run_quick(6)[1]["junction"]
    # matched at midplane: no tissue gets much more than the 8 Gy field alone (its own inhomogeneity
    # reaches ~110 % at 5 mm; the 10 mm quick grid's voxels straddle the border, 115 %: 1.2 allows both),
    # and the divergent edges leave cold wedges under the skin but above 0.6 x 6 Gy
    assert junction["crest"]["max_gy"] <= 1.2 * 8.0
    assert junction["crest"]["min_gy"] >= 0.6 * 6.0
    # 1 cm overlap: a band gets both fields (6 + 8 Gy less the penumbra), far above the 8 Gy field alone:
    # at least 1.25 x 8 Gy. Measured 10.5 Gy at the 10 mm quick grid (at least 11 Gy before the off-axis
    # horn was fitted to the measured 400 x 400 mm diagonals, issue 19: the old horn raised the field ends
    # near the junction, about 190 mm off axis, by 10-15 %)
    assert junction["overlap"]["max_gy"] >= 1.25 * 8.0
    # 1 cm gap: midway, each field is 5 mm outside its 50 % edge, where a broad-beam penumbra gives at most
    # ~30 %, plus the head scatter seen through the jaw opening (a few % of the field's dose just behind the
    # jaw, hbiview.dose.out_of_field): at most 0.33 x 6 + 0.33 x 8 = 4.6 Gy (3.4 Gy at the 5 mm grid, 4.3 Gy
    # at the 10 mm quick grid, whose voxel midway averages the penumbra from both 50 % edges),
    # and clearly colder than the matched junction (the penumbra tails no longer meet at their 50 % level):
    # by at least 0.5 Gy at the 10 mm quick grid (measured 0.9 Gy; since the jaw edges are averaged over the
    # fluence pixels, issue 19, a 10 mm pixel straddling an edge holds its covered fraction instead of all
    # or nothing, which fills a 1 cm gap a little at that grid)
    assert junction["gap"]["min_gy"] <= 0.33 * 6.0 + 0.33 * 8.0
    assert junction["gap"]["min_gy"] <= junction["crest"]["min_gy"] - 0.5
