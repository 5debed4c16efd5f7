"""Lesson 2 (lung correction): corrected vs uncorrected lung dose against Van Dyk's figures."""

from __future__ import annotations

import pytest
from lessoncheck import check_outputs

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def _row(numbers, dose_gy, corrected):
    return next(
        r for r in numbers["table"] if r["prescription_gy"] == dose_gy and r["corrected"] is corrected
    )


def test_outputs(run_quick):
    out, numbers = run_quick(2)
    check_outputs(out, numbers)


def test_correction_raises_mean_lung_dose(run_quick):
    numbers = run_quick(2)[1]
    # Lakeman et al. (hbi_clinical.toml): omitting density correction underestimates the midline thorax dose
    # by 17 % (SD 4 %) at 6 MV for lateral opposed TBI fields. AP/PA at 10 MV crosses less lung per beam and
    # is more penetrating, so a smaller increase, but at least 5 % for lungs of relative density ~0.25:
    assert 1.05 <= numbers["mean_lung_ratio"] <= 1.20
    # the maximum lung dose rises too (less than the mean: the hottest lung voxels are near the entrance)
    assert numbers["max_lung_ratio"] > 1.0


def test_dose_is_linear_in_the_prescription(run_quick):
    numbers = run_quick(2)[1]
    # the engine normalises one dose distribution to the prescription: mean lung dose at 7 and 8 Gy is 7/6
    # and 8/6 of the 6 Gy value (float32 sums: 0.1 %)
    for corrected in (False, True):
        six = _row(numbers, 6.0, corrected)["mean_lung_gy"]
        for dose in (7.0, 8.0):
            assert _row(numbers, dose, corrected)["mean_lung_gy"] == pytest.approx(six * dose / 6.0, rel=1e-3)


def test_pneumonitis_categories(run_quick):
    numbers = run_quick(2)[1]
    # Van Dyk et al. 1981: onset 7.5 Gy, 5 % incidence 8.2 Gy (lung-corrected, single fraction)
    assert (numbers["onset_gy"], numbers["incidence_5_percent_gy"]) == (7.5, 8.2)
    # RTOG 78-10 kept 6 Gy for the upper field so that the corrected lung dose stays below the onset
    assert _row(numbers, 6.0, True)["category"] == "below_onset"
    # 8 Gy to the upper half body puts the corrected mean lung dose above the 5 % figure (8 Gy x ~1.1)
    assert _row(numbers, 8.0, True)["category"] == "at_or_above_5_percent"
    # the lesson's point: at 7 Gy the uncorrected dose looks safe while the corrected one does not
    assert _row(numbers, 7.0, False)["mean_lung_gy"] < 7.5 <= _row(numbers, 7.0, True)["mean_lung_gy"]
