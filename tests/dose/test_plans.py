"""Plans: presets from landmarks, TOML round trips, validation of hand-written plan files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tomllib
from dose_phantoms import CYLINDER_LANDMARKS, HALF_DEPTH, water_cylinder

from hbiview.errors import HbiviewWarning, PlanError
from hbiview.plans import SAD_MM, Beam, Normalization, Plan, list_presets, load_plan, preset

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

LANDMARKS = CYLINDER_LANDMARKS
_patient = water_cylinder


def _quiet_preset(name: str, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HbiviewWarning)
        return preset(name, _patient(), landmarks=LANDMARKS, **options)


def test_list_presets_names_the_six_plans() -> None:
    names = [n for n, _ in list_presets()]
    assert names == ["upper-hbi", "mid-hbi", "lower-hbi", "lower-hbi-2pairs", "spine", "pelvis"]
    assert all(text for _, text in list_presets())


def test_upper_hbi_borders_and_linac_geometry() -> None:
    plan = _quiet_preset("upper-hbi")
    # RTOG 78-10 (Salazar 1986): 6 Gy single fraction upper hemi-body, midplane
    assert (plan.prescription_gy, plan.fractions, plan.normalization.point) == (6.0, 1, "midplane")
    assert [b.gantry_deg for b in plan.beams] == [0.0, 180.0]
    separation = 2 * HALF_DEPTH
    for beam in plan.beams:
        assert beam.ssd_mm is not None and 1000.0 <= beam.ssd_mm <= 2000.0
        assert max(beam.field_mm) <= 400.0  # a real jaw opening
        scale = (beam.ssd_mm + separation / 2) / SAD_MM  # isocentre plane -> midplane, by divergence
        # length at midplane = skull base to iliac crest (550 mm), within the 0.1 mm rounding of the jaws
        assert beam.field_mm[1] * scale == pytest.approx(550.0, abs=0.5)
        # width = body + 20 mm margin each side; the voxelised ellipse's outermost voxels are centred at
        # x = +-196 (rows at y = +-2), edges at +-198: 396 + 40 mm; measured on a 5 mm grid, so within 3 mm
        assert beam.field_mm[0] * scale == pytest.approx(436.0, abs=3.0)
        source = beam.frame()[0]
        # the source-to-skin distance is the stated SSD (skin at y = -/+120 mm, found to a fraction of a mm)
        skin_y = -HALF_DEPTH if beam.gantry_deg == 0 else HALF_DEPTH
        assert abs(skin_y - source[1]) == pytest.approx(beam.ssd_mm, abs=0.5)
        # the central axis runs through the middle of the borders
        assert source[2] == pytest.approx((600.0 + 50.0) / 2, abs=0.1)
    assert "SSD" in plan.description and "collimator" in plan.description


def test_mid_and_lower_hbi_prescriptions_and_borders() -> None:
    mid = _quiet_preset("mid-hbi")
    assert (mid.prescription_gy, mid.fractions) == (8.0, 1)  # RTOG 78-10: 8 Gy mid and lower
    beam = mid.beams[0]
    scale = (beam.ssd_mm + HALF_DEPTH) / SAD_MM
    # lung base (250) to mid-thigh (halfway femoral heads -50 / knees -450 = -250): 500 mm
    assert beam.field_mm[1] * scale == pytest.approx(500.0, abs=0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HbiviewWarning)
        lower = preset("lower-hbi", _patient(), landmarks=LANDMARKS)
    # iliac crest to ankles is 850 mm, more than 400 mm jaws at SSD 2000 can cover with this 400 mm wide
    # body: the plan says so instead of pretending
    assert any("jaws capped" in str(w.message) for w in caught)
    assert lower.prescription_gy == 8.0
    assert max(lower.beams[0].field_mm) <= 400.0


def test_spine_preset_level_and_schedule() -> None:
    plan = _quiet_preset("spine", level="L1", schedule="20x5")
    assert (plan.prescription_gy, plan.fractions) == (4.0, 5)
    assert plan.normalization == Normalization("depth", depth_mm=50.0)
    (beam,) = plan.beams
    assert beam.gantry_deg == 180.0 and beam.ssd_mm == 1000.0
    assert beam.isocentre_lps_mm[1] == pytest.approx(HALF_DEPTH, abs=0.5)  # SSD 1000: isocentre on the skin
    appa = _quiet_preset("spine", level="T10", technique="AP/PA", schedule="30x10")
    assert [b.gantry_deg for b in appa.beams] == [0.0, 180.0] and appa.fractions == 10
    with pytest.raises(PlanError, match="level"):
        _quiet_preset("spine", level="T13")
    with pytest.raises(PlanError, match="schedule"):
        _quiet_preset("spine", schedule="eight")


@pytest.mark.parametrize("name", ["upper-hbi", "mid-hbi", "spine", "pelvis"])
def test_every_preset_round_trips_through_toml(tmp_path: Path, name: str) -> None:
    plan = _quiet_preset(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(plan.to_toml())
    assert tomllib.loads(path.read_text())["name"] == plan.name
    assert load_plan(path) == plan
    # and it still fits the patient it was made for
    assert load_plan(path, _patient()) == plan


def test_without_landmarks_borders_come_from_body_height_with_a_warning() -> None:
    with pytest.warns(HbiviewWarning, match="body proportions"):
        plan = preset("upper-hbi", _patient(), landmarks={})
    # stature: 10 mm slices centred on z = -850 .. 850, i.e. 1710 mm of body; skull base at 0.905 and iliac
    # crest at 0.600 of it (body_proportions.csv). The body's ends are found to one coarse 5 mm voxel, which
    # moves the borders by up to 0.305 x 10 mm
    beam = plan.beams[0]
    scale = (beam.ssd_mm + HALF_DEPTH) / SAD_MM
    assert beam.field_mm[1] * scale == pytest.approx((0.905 - 0.600) * 1710.0, abs=3.0)


def test_beam_outlines_follow_the_geometry() -> None:
    beam = Beam("6MV", 90.0, 0.0, (100.0, 200.0), isocentre_lps_mm=(10.0, 20.0, 30.0))
    plan = Plan("lat", (beam,), 2.0)
    ((source, corners),) = plan.beam_outlines()
    # gantry 90 (IEC, head-first supine): the source is on the patient's left (+x), 1000 mm away
    assert np.allclose(source, [1010.0, 20.0, 30.0])
    assert np.allclose(corners.mean(axis=0), [10.0, 20.0, 30.0])
    assert np.allclose(np.ptp(corners, axis=0), [0.0, 100.0, 200.0])


BASE = """name = "test"
prescription_gy = 2.0
fractions = 1
normalization = { point = "depth", depth_mm = 100 }
heterogeneity = true
grid_mm = 2.5
"""
BEAM = """[[beams]]
energy = "10MV"
gantry_deg = 0
ssd_mm = 900
field_mm = [100, 100]
weight = 1.0
"""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (BASE + BEAM.replace("gantry_deg", "gantry"), "beams[1].gantry"),
        (BASE + "colour = 1\n" + BEAM, "colour"),
        (BASE + BEAM.replace('"10MV"', '"8MV"'), "beams[1].energy"),
        (BASE.replace("2.0", "-2.0") + BEAM, "prescription_gy"),
        (BASE.replace("2.0", "200.0") + BEAM, "prescription_gy"),
        (BASE + BEAM.replace("[100, 100]", "[0, 100]"), "beams[1].field_mm"),
        (BASE.replace('"depth", depth_mm = 100', '"centre"') + BEAM, "normalization.point"),
        (BASE + BEAM.replace("ssd_mm = 900", "ssd_mm = 90"), "beams[1].ssd_mm"),
        (BASE.replace("fractions = 1", "fractions = 2.5") + BEAM, "fractions"),
    ],
)
def test_bad_plan_files_name_the_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    message = str(info.value)
    assert str(path) in message and key in message, message


@pytest.mark.parametrize(
    ("beam_lines", "key", "what"),
    [
        (
            "isocentre_lps_mm = [3000, 0, 0]\n",
            "beams[1].field_mm",
            "outside",
        ),  # field entirely outside the CT
        (
            "isocentre_lps_mm = [0, 0, 0]\n",
            "beams[1].ssd_mm",
            "surface",
        ),  # SSD 900 but the skin is 880 mm away
    ],
)
def test_plans_that_do_not_fit_the_patient(tmp_path: Path, beam_lines: str, key: str, what: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE + BEAM + beam_lines)
    load_plan(path)  # fine on its own
    with pytest.raises(PlanError) as info:
        load_plan(path, _patient())
    message = str(info.value)
    assert str(path) in message and key in message and what in message, message


def test_ssd_beam_without_isocentre_is_placed_on_the_skin(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(BASE + BEAM)
    plan = load_plan(path, _patient())
    source, _, _, _ = plan.beams[0].frame()
    # source 900 mm in front of the anterior skin (y = -120) on the line through the body centre
    assert np.allclose(source, [0.0, -120.0 - 900.0, 0.0], atol=0.5)
