"""Lesson 4 (fractionation): EQD2 of 8x1, 20x5, 30x10 for cord (alpha/beta 2) and marrow (10)."""

from __future__ import annotations

import pytest
from lessoncheck import check_outputs

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

# closed form EQD2 = D (d + a/b) / (2 + a/b) at the prescription point, where the dose is the prescription
EXPECTED = {
    # schedule: (total Gy, fractions, EQD2 at a/b 2 Gy, EQD2 at a/b 10 Gy)
    "8x1": (8.0, 1, 8.0 * (8.0 + 2) / 4, 8.0 * (8.0 + 10) / 12),  # 20.0, 12.0
    "20x5": (20.0, 5, 20.0 * (4.0 + 2) / 4, 20.0 * (4.0 + 10) / 12),  # 30.0, 23.33
    "30x10": (30.0, 10, 30.0 * (3.0 + 2) / 4, 30.0 * (3.0 + 10) / 12),  # 37.5, 32.5
}


def test_outputs(run_quick):
    out, numbers = run_quick(4)
    check_outputs(out, numbers)


def test_eqd2_closed_form(run_quick):
    numbers = run_quick(4)[1]
    assert (numbers["alpha_beta_cord_gy"], numbers["alpha_beta_marrow_gy"]) == (2.0, 10.0)
    for schedule, (total, n, cord, marrow) in EXPECTED.items():
        row = numbers["schedules"][schedule]
        assert (row["total_gy"], row["fractions"]) == (total, n)
        # exact arithmetic: only float rounding
        assert row["eqd2_cord_gy"] == pytest.approx(cord, rel=1e-12)
        assert row["eqd2_marrow_gy"] == pytest.approx(marrow, rel=1e-12)


def test_cord_dose_scales_with_the_schedule(run_quick):
    rows = run_quick(4)[1]["schedules"]
    # one beam, one geometry: the physical cord maximum is proportional to the total dose (float32: 0.1 %)
    assert rows["20x5"]["cord_max_gy"] == pytest.approx(rows["8x1"]["cord_max_gy"] * 20 / 8, rel=1e-3)
    # the cord lies between the depth of maximum and the 5 cm prescription depth of a 6 MV PA field, so its
    # maximum is 100-120 % of the prescription (6 MV PDD ~100 % at 1.5 cm and ~86 % at 5 cm: ratio 1.16)
    assert 1.0 <= rows["8x1"]["cord_max_gy"] / 8.0 <= 1.2
    # EQD2 of the cord's maximum follows the closed form of its own dose per fraction
    for row in rows.values():
        d = row["cord_max_gy"] / row["fractions"]
        assert row["cord_max_eqd2_gy"] == pytest.approx(row["cord_max_gy"] * (d + 2) / 4, rel=1e-9)


def test_marrow_in_a_spine_field_is_small(run_quick):
    rows = run_quick(4)[1]["schedules"]
    fractions = {row["marrow_in_field"] for row in rows.values()}
    # the same field whatever the schedule; T9-T11 hold about 4 % of the active marrow (ICRP 89: thoracic
    # spine 16.1 % over 12 vertebrae), plus rib heads
    assert max(fractions) - min(fractions) < 1e-9
    assert 0.025 <= min(fractions) <= 0.08
