"""Sequential courses summed: physical dose voxel by voxel, EQD2 course by course, the junction named."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from hbiview.errors import InputError
from hbiview.geometry import Geometry
from hbiview.pipeline import SUM_LEAVES_OUT, eqd2_sum, load_case, run_plan, sum_courses
from hbiview.volume import DoseGrid

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def test_eqd2_sum_of_two_fractionations_by_hand() -> None:
    geo = Geometry.box((-20, -20, -20), (20, 20, 20), 5.0)
    k = np.indices(geo.shape)[0].astype(np.float32)
    single = DoseGrid(geo, np.full(geo.shape, 8.0), 1, "8 Gy x 1")  # lower HBI, RTOG 78-10
    course = DoseGrid(geo, 20.0 + k, 5, "20 Gy x 5 and more")  # a palliative 20/5 course, graded
    lung = eqd2_sum([single, course], 3.0)
    # by hand, alpha/beta 3 Gy: 8 Gy x 1 -> 8 (8 + 3) / 5 = 17.6 Gy; 20 Gy in 5 -> 20 (4 + 3) / 5 = 28 Gy
    # (float32 output of values ~50 Gy: 1e-5 relative)
    assert lung.array[0, 0, 0] == pytest.approx(17.6 + 28.0, rel=1e-5)
    # each voxel its own dose per fraction: D = 20 + k in 5 fractions -> D (D / 5 + 3) / 5
    d = 20.0 + k
    np.testing.assert_allclose(lung.array, 17.6 + d * (d / 5 + 3) / 5, rtol=1e-5)
    # marrow, alpha/beta 10 Gy: 8 (8 + 10) / 12 = 12 Gy and 20 (4 + 10) / 12 = 23.333 Gy
    marrow = eqd2_sum([single, course], 10.0)
    assert marrow.array[0, 0, 0] == pytest.approx(12.0 + 20.0 * 14.0 / 12.0, rel=1e-5)
    assert lung.fractions == 6
    # the same course twice is not the course's dose in 2 fractions: EQD2 adds, physical dose per
    # fraction does not (16 Gy in 2 x 8 has the same EQD2, 35.2 Gy, as two 8 Gy x 1 courses)
    twice = eqd2_sum([single, single], 3.0)
    assert twice.array[0, 0, 0] == pytest.approx(2 * 17.6, rel=1e-5)


@pytest.fixture(scope="module")
def courses():
    """Upper HBI 6 Gy x 1 and lower HBI as 4 Gy x 2 on a coarse phantom (quick), segmented once."""
    from hbiview.sample import make_phantom

    case = load_case(make_phantom(spacing_mm=(10.0, 7.0, 7.0), noise_hu=0.0).ct)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upper = run_plan(case, "upper-hbi", grid_mm=10.0, structures=["Lungs", "Marrow", "Body"])
        lower = run_plan(
            case,
            "lower-hbi",
            grid_mm=10.0,
            structures=["Lungs", "Marrow", "Body"],
            prescription_gy=4.0,
            fractions=2,
            inferior="knees",
        )
        total = sum_courses(case, [upper, lower])
    return case, upper, lower, total


def test_sum_of_courses_is_the_voxel_sum_and_eqd2_adds_per_course(courses) -> None:
    case, upper, lower, total = courses
    # both courses are computed on the same body box at the same spacing: no resampling, so the physical
    # sum is exactly the voxel sum (float32)
    assert upper.dose.geometry.isclose(lower.dose.geometry)
    np.testing.assert_array_equal(total.dose.array, upper.dose.array + lower.dose.array)
    assert total.dose.fractions == 3
    # the mean lung dose of the sum is the sum of the means (a mean is linear; DVH bins 0.01 Gy)
    assert total.mean_lung_dose_gy == pytest.approx(
        upper.mean_lung_dose_gy + lower.mean_lung_dose_gy, abs=0.02
    )
    # EQD2 per structure, course by course, from each voxel's dose (alpha/beta lung 3, marrow 10 Gy):
    # the hand formula on the structure's voxels
    for name, ab in (("Lungs", 3.0), ("Marrow", 10.0)):
        mask = case.structures[name].resampled(total.dose.geometry).mask
        a = upper.dose.array[mask].astype(float)
        b = lower.dose.array[mask].astype(float)
        by_hand = a * (a / 1 + ab) / (2 + ab) + b * (b / 2 + ab) / (2 + ab)
        row = total.metrics(name)
        assert row["alpha_beta_gy"] == ab
        # resampled masks vs the DVH's supersampled voxels: 2 % (the DVH splits boundary voxels)
        assert row["mean_eqd2_gy"] == pytest.approx(by_hand.mean(), rel=0.02)
        assert total.eqd2_by_structure[name]["mean_eqd2_gy"] == row["mean_eqd2_gy"]
        # the naive EQD2 of the summed dose in 3 fractions is a different (wrong) number for the lungs,
        # which get a single 6 Gy fraction from the upper course
        if name == "Lungs":
            s = a + b
            naive = (s * (s / 3 + ab) / (2 + ab)).mean()
            assert abs(naive - row["mean_eqd2_gy"]) > 0.05 * row["mean_eqd2_gy"]
    # the junction: upper HBI ends at the iliac crest, lower HBI starts there
    junction = total.junction
    assert junction is not None and junction["between"] == (upper.label, lower.label)
    crest = case.border_z_mm("iliac_crest")
    lo, hi = junction["z_mm"]
    # within the dose grid's 10 mm slices and the field penumbra (50 % edges) of the crest
    assert lo - 30.0 <= crest <= hi + 30.0
    assert "iliac crest" in junction["near"]
    assert SUM_LEAVES_OUT in total.notes and "repopulation" in SUM_LEAVES_OUT
    assert "junction" in total.notes[0]


def test_a_sum_needs_two_courses(courses) -> None:
    case, upper, _, _ = courses
    with pytest.raises(InputError, match="at least two courses"):
        sum_courses(case, [upper])


def test_dose_sum_command_writes_the_voxel_sum(sample_ct_dir, tmp_path, capsys) -> None:
    from hbiview.cli import main
    from hbiview.dose import compute_dose
    from hbiview.io.rtdose import read_rtdose

    out = tmp_path / "total.dcm"
    args = ["dose", str(sample_ct_dir), "--plan", "upper-hbi", "--plan", "lower-hbi"]
    args += ["--set", "lower-hbi:inferior=knees", "--grid-mm", "10", "--out", str(out)]
    # two plans without --sum: refused in one line, nothing written
    assert main(args) == 2 and not out.exists()
    assert "--sum" in capsys.readouterr().err
    assert main([*args, "--sum", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [c["plan"] for c in document["courses"]] == ["upper-hbi", "lower-hbi"]
    assert "repopulation" in document["leaves_out"] and document["junction"]["kind"] in ("gap", "overlap")
    case = load_case(sample_ct_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upper = compute_dose(case.ct, case.plan("upper-hbi"), grid_mm=10.0)
        lower = compute_dose(case.ct, case.plan("lower-hbi", inferior="knees"), grid_mm=10.0)
    written = read_rtdose(out)
    expected = upper.array + lower.array
    assert written.fractions == 2 or document["fractions"] == 2
    # the RT Dose stores 16-bit steps of max / 65535: the voxel sum within one step
    np.testing.assert_allclose(written.array, expected, atol=float(expected.max()) / 65535 * 1.01)


def test_summed_plan_for_pictures_carries_every_beam_and_the_voxel_sum() -> None:
    from hbiview.cli._planopts import summed_plan
    from hbiview.plans import Beam, Plan

    geo = Geometry.box((-20, -20, -20), (20, 20, 20), 5.0)
    upper = Plan("upper-hbi", (Beam("10MV", name="AP"), Beam("10MV", 180.0, name="PA")), 6.0, 1)
    lower = Plan("lower-hbi", (Beam("10MV", name="AP"),), 4.0, 2)
    doses = [DoseGrid(geo, np.full(geo.shape, 6.0), 1), DoseGrid(geo, np.full(geo.shape, 8.0), 2)]
    plan, total = summed_plan([upper, lower], doses)
    assert [b.name for b in plan.beams] == ["upper-hbi AP", "upper-hbi PA", "lower-hbi AP"]
    np.testing.assert_array_equal(total.array, 14.0)
    # percentages against the largest course (8 Gy in total), over the 3 fractions of both courses
    assert plan.total_dose_gy == pytest.approx(8.0) and plan.fractions == 3
    assert "repopulation" in plan.description


def test_dvh_sum_reports_the_sum_as_one_more_plan(sample_ct_dir, capsys) -> None:
    from hbiview.cli import main

    argv = ["dvh", str(sample_ct_dir), "--plan", "upper-hbi", "--plan", "lower-hbi", "--sum"]
    argv += ["--set", "lower-hbi:inferior=knees", "--grid-mm", "10", "--structures", "Lungs", "Marrow"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sum: upper-hbi + lower-hbi: 2 fractions in all" in out
    assert "mean EQD2 (alpha/beta 3 Gy)" in out and "junction of upper-hbi and lower-hbi" in out
    assert "repopulation" in out
    # one course alone cannot be summed: refused before any work, in one line
    assert main(["dvh", str(sample_ct_dir), "--plan", "upper-hbi", "--sum"]) == 2
    assert "at least two courses" in capsys.readouterr().err
