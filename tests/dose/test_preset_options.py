"""Preset options: borders (landmark, vertebra, disc or z) and prescriptions, in Python and through --set."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from dose_phantoms import CYLINDER_LANDMARKS as LANDMARKS
from dose_phantoms import HALF_DEPTH
from dose_phantoms import water_cylinder as _patient

from hbiview.errors import HbiviewWarning, PlanError
from hbiview.plans import SAD_MM, border_z_mm, preset

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

# the test patient's landmarks plus two vertebral-body centres (z, mm): the L4-L5 disc lies halfway, at 60
MARKS = {**LANDMARKS, "L4": 80.0, "L5": 40.0, "S1": 0.0}


def _preset(name: str, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HbiviewWarning)
        return preset(name, _patient(), landmarks=MARKS, **options)


def _borders_at_midplane(plan) -> tuple[float, float]:
    """Inferior and superior field edges (z, mm) at midplane, from the first beam's geometry."""
    beam = plan.beams[0]
    source = beam.frame()[0]
    scale = (beam.ssd_mm + HALF_DEPTH) / SAD_MM  # isocentre plane -> midplane (separation / 2 deep)
    half = beam.field_mm[1] * scale / 2
    return source[2] - half, source[2] + half


def test_border_z_mm_reads_landmarks_vertebrae_discs_and_numbers() -> None:
    assert border_z_mm("iliac_crest", MARKS) == (50.0, "iliac crest")
    assert border_z_mm("L5", MARKS)[0] == 40.0  # the vertebral-body centre
    assert border_z_mm("L4-L5", MARKS) == (60.0, "the L4-L5 disc")  # halfway between 80 and 40
    assert border_z_mm("l4/l5", MARKS)[0] == 60.0
    assert border_z_mm("L5-S1", MARKS)[0] == 20.0
    assert border_z_mm(-310, MARKS)[0] == -310.0
    assert border_z_mm("-310.5", MARKS)[0] == -310.5  # a number typed as text
    assert border_z_mm("mid_thigh", MARKS)[0] == (-50.0 + -450.0) / 2
    with pytest.raises(PlanError, match="adjacent"):
        border_z_mm("L4-S1", MARKS)
    with pytest.raises(PlanError, match="navel"):
        border_z_mm("navel", MARKS)
    with pytest.raises(PlanError, match="'T4' is not known"):
        border_z_mm("T4", MARKS)


@pytest.mark.parametrize(
    ("option", "expected_z"),
    [("L4-L5", 60.0), ("L5", 40.0), ("iliac_crest", 50.0), (-100.0, -100.0), ("femoral_heads", -50.0)],
)
def test_upper_hbi_inferior_border_moves_the_field(option, expected_z) -> None:
    plan = _preset("upper-hbi", inferior=option)
    low, high = _borders_at_midplane(plan)
    # the field's edges at midplane are the borders (jaws rounded to 0.1 mm at 1000 mm: within 0.5 mm)
    assert low == pytest.approx(expected_z, abs=0.5)
    assert high == pytest.approx(LANDMARKS["skull_base"], abs=0.5)
    assert f"z {expected_z:.0f} to 600 mm" in plan.description


def test_lower_and_mid_hbi_borders() -> None:
    lower = _preset("lower-hbi", superior="L4-L5", inferior="knees")
    low, high = _borders_at_midplane(lower)
    assert (low, high) == (pytest.approx(-450.0, abs=0.5), pytest.approx(60.0, abs=0.5))
    assert "the L4-L5 disc to knees" in lower.description
    # mid-hbi: its default inferior border is mid-thigh, halfway between femoral heads and knees
    mid = _preset("mid-hbi", inferior="femoral_heads")
    low, high = _borders_at_midplane(mid)
    assert (low, high) == (pytest.approx(-50.0, abs=0.5), pytest.approx(250.0, abs=0.5))
    assert _preset("mid-hbi", inferior="mid_thigh") == _preset("mid-hbi")
    with pytest.raises(PlanError, match="at least 50 mm above"):
        _preset("upper-hbi", inferior="skull_base")
    with pytest.raises(PlanError, match="preset lower-hbi: border 'navel'"):
        _preset("lower-hbi", superior="navel")
    with pytest.raises(PlanError, match="unknown option 'inferior'"):
        _preset("spine", inferior="L4")


def test_a_chosen_ssd_keeps_the_borders_and_scales_the_jaws() -> None:
    chosen = _preset("upper-hbi", ssd_mm=1800)
    assert {beam.ssd_mm for beam in chosen.beams} == {1800.0}
    # the borders stay where they were at midplane (within the 0.5 mm of jaws rounded to 0.1 mm)
    low, high = _borders_at_midplane(chosen)
    assert (low, high) == (pytest.approx(LANDMARKS["iliac_crest"], abs=0.5), pytest.approx(600.0, abs=0.5))
    # similar triangles: the jaws (at 1000 mm) shrink as SAD / (SSD + midplane depth) from the preset's choice
    default = _preset("upper-hbi")
    ratio = (default.beams[0].ssd_mm + HALF_DEPTH) / (1800.0 + HALF_DEPTH)
    assert chosen.beams[0].field_mm[1] == pytest.approx(default.beams[0].field_mm[1] * ratio, abs=0.1)
    assert "extended SSD 1800 mm" in chosen.description
    with pytest.raises(PlanError, match="ssd_mm = 900 is outside the sensible range 1000 to 2000"):
        _preset("upper-hbi", ssd_mm=900)
    with pytest.raises(PlanError, match="unknown option 'ssd_mm'"):
        _preset("spine", ssd_mm=1200)


def test_prescription_and_fractions_for_every_preset() -> None:
    upper = _preset("upper-hbi", prescription_gy=7.0)
    assert (upper.prescription_gy, upper.fractions, upper.total_dose_gy) == (7.0, 1, 7.0)
    # only the prescription differs from the RTOG 78-10 preset, and the description says so
    default = _preset("upper-hbi")
    assert upper.beams == default.beams
    assert "7 Gy x 1 at midplane (the RTOG 78-10 prescription is 6 Gy x 1)" in upper.description
    assert "6 Gy x 1 at midplane (RTOG 78-10)" in default.description
    # fractions from the command line arrive as floats (parse_options): 3.0 is 3
    lower = _preset("lower-hbi", inferior="knees", prescription_gy=4, fractions=3.0)
    assert (lower.prescription_gy, lower.fractions) == (4.0, 3)
    # spine and pelvis: prescription_gy x fractions is the same plan as the schedule
    assert _preset("spine", prescription_gy=4.0, fractions=5) == _preset("spine", schedule="20x5")
    assert _preset("pelvis", prescription_gy=3.0, fractions=10) == _preset("pelvis", schedule="30x10")
    assert _preset("spine", fractions=1).prescription_gy == 8.0  # default 8 Gy per fraction kept
    with pytest.raises(PlanError, match="either schedule"):
        _preset("spine", schedule="20x5", fractions=5)
    with pytest.raises(PlanError, match=r"prescription_gy = -6.*must be positive"):
        _preset("upper-hbi", prescription_gy=-6.0)
    with pytest.raises(PlanError, match="prescription_gy = 30"):
        _preset("mid-hbi", prescription_gy=30.0)  # beyond 25 Gy per fraction: a typing error
    with pytest.raises(PlanError, match="fractions must be an integer"):
        _preset("upper-hbi", fractions=2.5)
    with pytest.raises(PlanError, match="beyond 100 Gy"):
        _preset("pelvis", prescription_gy=5.0, fractions=30)


def test_options_work_from_the_command_line(sample_ct_dir: Path, tmp_path: Path, capsys) -> None:
    """``hbiview dose --set inferior=L4-L5 --set prescription_gy=7``: cli/dose.py passes --set through."""
    from hbiview.cli import main
    from hbiview.pipeline import load_case

    out = tmp_path / "dose.nii.gz"
    args = ["dose", str(sample_ct_dir), "--plan", "upper-hbi", "--grid-mm", "10", "--out", str(out)]
    args += ["--set", "inferior=L4-L5", "--set", "prescription_gy=7", "--set", "fractions=2", "--json", "-q"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HbiviewWarning)
        assert main(args) == 0
        disc = load_case(sample_ct_dir).border_z_mm("L4-L5")  # the same landmark search as the command
    summary = json.loads(capsys.readouterr().out)
    assert "Borders skull base to the L4-L5 disc" in summary["description"]
    assert f"z {disc:.0f} to" in summary["description"]
    assert (summary["prescription_gy_per_fraction"], summary["fractions"]) == (7.0, 2)
    # the engine normalises to the prescription point within 0.5 % (tests/dose/test_engine.py)
    assert summary["dose_at_prescription_point_gy_total"] == pytest.approx(14.0, rel=0.005)
    assert out.is_file()
