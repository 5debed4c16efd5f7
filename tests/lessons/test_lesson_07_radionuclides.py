"""Lesson 7 (radionuclides instead of hemi-body irradiation): marrow, lungs and bone surfaces."""

from __future__ import annotations

import pytest
from lessoncheck import check_outputs

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def test_outputs(run_quick):
    out, numbers = run_quick(7)
    check_outputs(out, numbers)


def test_radionuclides_against_their_labels(run_quick):
    rows = run_quick(7)[1]["rows"]
    # the mean active-marrow dose per MBq within the 20 % of the references: ICRP 53 / Metastron
    # (11.0 mGy/MBq) and Quadramet (1.54 mGy/MBq); the whole skeleton is in the sample's scan
    assert rows["sr89"]["marrow_mgy_per_mbq"] == pytest.approx(11.0, rel=0.20)
    assert rows["sm153"]["marrow_mgy_per_mbq"] == pytest.approx(1.54, rel=0.20)
    assert rows["sr89"]["activity_mbq"] == 150.0
    # 37 MBq/kg on an adult of 50-90 kg
    assert 37 * 50 < rows["sm153"]["activity_mbq"] < 37 * 90
    # Sm-153: 46.3 h half-life, no release from bone: 92 % of the dose in the first week (1 - 2^(-7/1.93))
    assert rows["sm153"]["first_week"] == pytest.approx(0.919, abs=0.005)


def test_lungs_and_marrow_of_fields_and_injections(run_quick):
    numbers = run_quick(7)[1]
    rows = numbers["rows"]
    # the upper field carries the lungs in it: 6 Gy at midplane, more in lung (lesson 2); an injection
    # gives them only photons and the betas from the ribs' edge: at least 50 times less (10 mm quick grid,
    # which spreads the ribs' betas further into lung than the 5 mm grid)
    assert rows["upper"]["lung_gy"] > 6.0
    assert numbers["lung_ratio"] > 50
    assert rows["lower"]["lung_gy"] < 0.1  # the lower field ends at the iliac crest
    # the fields reach about half the marrow each (lesson 3); an injection reaches all of it
    assert rows["upper"]["marrow_ge_1gy"] + rows["lower"]["marrow_ge_1gy"] == pytest.approx(1.0, abs=0.12)
    assert rows["sm153"]["marrow_ge_1gy"] > 0.95
    # bone surfaces: Sm-153 at 37 MBq/kg, 6.76 mGy/MBq by the label (the model 6.32): 13-20 Gy on an adult
    assert 10.0 < rows["sm153"]["bone_gy"] < 25.0
