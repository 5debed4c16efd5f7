"""``hbiview demo`` end to end on a coarse copy of the sample patient, its folder handling, and the pipeline.

The full demo on ``sample_ct/`` takes about half a minute (``benchmarks/bench_demo.py`` times it); here it
runs once with ``--quick --ct`` on the same synthetic patient at 10 mm voxels, which keeps the anatomy
(lungs, skeleton, legs apart) and every step while staying a few seconds of CPU.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from hbiview.cli import demo as demo_module
from hbiview.cli import main
from hbiview.errors import MissingInputError
from hbiview.geometry import Geometry
from hbiview.volume import DoseGrid

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

QUICK_FILES = {
    "3d_comparison.png",
    "3d_upper-hbi.png",
    "axial_lungs_upper-hbi.png",
    "coronal_comparison.png",
    "lung_correction_coronal.png",
    "dvh_curves.csv",
    "metrics.csv",
    "metrics.json",
    "summary.json",
    "report.html",
    "rtdose_upper-hbi.dcm",
    "rtdose_lower-hbi.dcm",
    "rtdose_spine.dcm",
    "rtdose_upper-hbi-water.dcm",
    "rtdose_sum.dcm",
    "rtplan_upper-hbi.dcm",
    "rtplan_lower-hbi.dcm",
    "rtplan_spine.dcm",
    "rtplan_upper-hbi-water.dcm",
    "rtstruct.dcm",
    "CT.txt",
    "README.txt",
}


@pytest.fixture(scope="module")
def coarse_ct(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hbiview.io.dicom import write_ct
    from hbiview.sample import make_phantom

    folder = tmp_path_factory.mktemp("coarse") / "ct"
    write_ct(make_phantom(spacing_mm=(10.0, 10.0, 10.0), noise_hu=0.0).ct, folder, uid_seed="demo-test")
    return folder


@pytest.fixture(scope="module")
def demo_run(coarse_ct: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, str]:
    import contextlib
    import io

    out = tmp_path_factory.mktemp("demo") / "hbiview-demo"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["demo", "--ct", str(coarse_ct), "--out", str(out), "--quick"])
    return out, code, stdout.getvalue(), stderr.getvalue()


def test_demo_writes_every_file_and_prints_the_table(demo_run):
    out, code, stdout, stderr = demo_run
    assert code == 0, stderr
    assert {p.name for p in out.iterdir()} == QUICK_FILES
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    for name in ("upper-hbi ", "lower-hbi ", "spine-T10 ", "upper-hbi (water) "):
        assert any(line.startswith(name) for line in stdout.splitlines()), stdout
    assert f"{len(QUICK_FILES)} files in {out}/" in stdout
    steps = [line for line in stderr.splitlines() if line.startswith("[")]
    assert len(steps) == 12 and steps[-1].startswith("[12/12]")  # one line per step with its time
    assert all(re.match(r"\[\s*\d+/12\]\s+\d+\.\d s  \w", line) for line in steps), steps


def test_demo_numbers_follow_the_physics(demo_run):
    out, *_ = demo_run
    rows = {r["key"]: r for r in json.loads((out / "summary.json").read_text())["key_numbers"]}
    upper, water, lower, spine = (rows[k] for k in ("upper-hbi", "upper-hbi-water", "lower-hbi", "spine"))
    # lung correction: lung (density ~0.26) attenuates less than water, so the corrected mean lung dose of
    # AP/PA 10 MV fields is higher; Van Dyk et al. 1981 (IJROBP 7:461) give +10-20 % for HBI-sized fields
    ratio = upper["mean_lung_dose_gy"] / water["mean_lung_dose_gy"]
    assert 1.05 < ratio < 1.25
    # the lower field is below the lungs, the spine field beside them: little lung dose (scatter only)
    assert lower["mean_lung_dose_gy"] < 0.05 * lower["prescription_gy"]
    assert spine["mean_lung_dose_gy"] < 0.15 * spine["prescription_gy"]
    # ICRP 110 adult active marrow: 0.63 above the iliac crest, 0.37 below; the upper field (from the skull
    # base, so without the cranium) still holds more than the lower one
    assert upper["active_marrow_in_field_pct"] > lower["active_marrow_in_field_pct"] > 15.0
    # AP/PA 10 MV at midplane: hot spots stay below about 160 % of the prescription on a 23 cm thick
    # patient at SSD 2000 mm (entrance dose maximum plus lung transmission)
    for row in (upper, lower):
        assert row["prescription_gy"] < row["max_dose_gy"] < 1.6 * row["prescription_gy"]


def test_demo_lower_hbi_prescription_point_moved_into_a_leg(demo_run):
    out, _, _, stderr = demo_run
    assert "passes between the legs" in stderr  # the lower field's central axis is in the air gap
    document = json.loads((out / "metrics.json").read_text())
    lower = next(p for p in document["plans"] if p["label"] == "lower-hbi")
    assert "LPS point" in lower["summary"]["normalization"]


def test_demo_rt_files_reopen_with_the_same_numbers(demo_run, capsys):
    out, *_ = demo_run
    from hbiview.io.rtdose import read_rtdose

    rows = {r["key"]: r for r in json.loads((out / "summary.json").read_text())["key_numbers"]}
    dose = read_rtdose(out / "rtdose_upper-hbi.dcm")
    # RT Dose pixels are uint16 with one DoseGridScaling: the maximum comes back within 1e-6 relative
    assert dose.max_gy == pytest.approx(rows["upper-hbi"]["max_dose_gy"], rel=1e-5)
    code = main(
        ["dvh", "--rtdose", str(out / "rtdose_upper-hbi.dcm"), "--rtstruct", str(out / "rtstruct.dcm"),
         "--structures", "Lungs", "--json"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lungs = json.loads(captured.out)["plans"][0]["structures"][0]
    # the lungs rebuilt from the RTSTRUCT contours on the 5 mm dose grid against the demo's voxel masks:
    # contour re-rasterisation moves the boundary by up to half a 10 mm CT voxel, in a dose that is nearly
    # flat across the lungs: mean within 3 %
    assert lungs["mean_gy"] == pytest.approx(rows["upper-hbi"]["mean_lung_dose_gy"], rel=0.03)


def test_demo_json_output(coarse_ct, tmp_path, capsys, monkeypatch):
    # the JSON summary, with the heavy steps replaced by a stand-in: only the printing is under test here
    def fake_steps(folder, step, **kwargs):
        (folder / "a.txt").write_text("a")
        return demo_module._Outcome("stand-in", {}, {"a.txt": "a file"}, [])

    monkeypatch.setattr(demo_module, "_run_steps", fake_steps)
    code = main(["demo", "--out", str(tmp_path / "d"), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["files"] == {"a.txt": "a file", "README.txt": "this list"}
    assert document["key_numbers"] == []


# ----------------------------------------------------------------------------------- the output folder
def _fake_steps(fail: bool):
    def steps(folder, step, **kwargs):
        (folder / "new.txt").write_text("new")
        if fail:
            raise RuntimeError("a step failed")
        return demo_module._Outcome("stand-in", {}, {"new.txt": "new"}, [])

    return steps


def test_force_replaces_the_folder_contents(tmp_path, monkeypatch):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "old.txt").write_text("old")
    monkeypatch.setattr(demo_module, "_run_steps", _fake_steps(fail=False))
    demo_module.run_demo(out, force=True, quiet=True)
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", "new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no staging or old copy left


def test_a_failed_demo_keeps_the_old_folder_and_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "old.txt").write_text("old")
    monkeypatch.setattr(demo_module, "_run_steps", _fake_steps(fail=True))
    with pytest.raises(RuntimeError):
        demo_module.run_demo(out, force=True, quiet=True)
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_an_empty_folder_is_used_without_force(tmp_path, monkeypatch):
    out = tmp_path / "demo"
    out.mkdir()
    monkeypatch.setattr(demo_module, "_run_steps", _fake_steps(fail=False))
    result = demo_module.run_demo(out, quiet=True)
    assert sorted(result.files) == ["README.txt", "new.txt"]
    assert (out / "new.txt").read_text() == "new"


# ----------------------------------------------------------------------------------------- the pipeline
def test_sample_ct_from_the_environment_variable(tmp_path, monkeypatch, sample_ct_dir):
    from hbiview.pipeline import SAMPLE_CT_ENV, find_sample_ct

    monkeypatch.setenv(SAMPLE_CT_ENV, str(sample_ct_dir))
    assert find_sample_ct() == sample_ct_dir
    monkeypatch.setenv(SAMPLE_CT_ENV, str(tmp_path))  # a folder without DICOM files: an error, no fallback
    with pytest.raises(MissingInputError, match=SAMPLE_CT_ENV):
        find_sample_ct()
    monkeypatch.delenv(SAMPLE_CT_ENV)
    monkeypatch.chdir(tmp_path)  # no ./sample_ct: the copy installed in the package, or the source tree's
    found = find_sample_ct()
    assert found is not None
    assert sorted(p.name for p in found.glob("*.dcm")) == sorted(p.name for p in sample_ct_dir.glob("*.dcm"))


@pytest.mark.filterwarnings("ignore::hbiview.errors.HbiviewWarning")
def test_sample_ct_regenerated_when_missing(monkeypatch):
    import hbiview.pipeline as pipeline
    import hbiview.sample as sample
    from hbiview.errors import HbiviewWarning

    made = sample.make_phantom(spacing_mm=(20.0, 20.0, 20.0), noise_hu=0.0)
    monkeypatch.setattr(pipeline, "find_sample_ct", lambda: None)
    monkeypatch.setattr(sample, "make_phantom", lambda: made)
    with pytest.warns(HbiviewWarning, match=r"sample_ct/ not found.*make_phantom"):
        ct, source = pipeline.load_sample_ct()
    np.testing.assert_array_equal(ct.array, made.ct.array)  # written as DICOM and read back exactly
    # the UIDs of the bundled series (derived from hbiview.sample.SAMPLE_UID_SEED), so that RT files written
    # for this CT reference the same frame of reference as sample_ct/
    assert ct.geometry.frame_of_reference_uid
    again, _ = pipeline.load_sample_ct()
    assert again.geometry.frame_of_reference_uid == ct.geometry.frame_of_reference_uid
    assert source == pipeline.SAMPLE_REGENERATED


def test_crop_dose_keeps_everything_above_the_threshold():
    geometry = Geometry.from_spacing((10, 12, 14), (2.0, 3.0, 4.0), (-20.0, -30.0, 100.0))
    array = np.zeros(geometry.shape, dtype=np.float32)
    array[3:6, 4:9, 2:5] = 2.0
    array[4, 6, 3] = 4.0
    from hbiview.pipeline import crop_dose

    cropped = crop_dose(DoseGrid(geometry, array, 2, "box"), threshold_pct=0.5, margin_voxels=1)
    # box [3, 6) x [4, 9) x [2, 5) plus one voxel each side
    assert cropped.geometry.shape == (5, 7, 5)
    np.testing.assert_allclose(cropped.geometry.origin_mm, geometry.index_to_lps([2, 3, 1]))
    assert cropped.array.sum() == pytest.approx(array.sum())  # nothing above zero is lost
    assert cropped.max_gy == 4.0 and cropped.fractions == 2 and cropped.description == "box"
    flat = DoseGrid(geometry, np.ones(geometry.shape, np.float32))
    assert crop_dose(flat) is flat  # nothing to crop


def test_key_table_prints_missing_values_as_dashes():
    rows = [
        {"plan": "A", "prescription": "6 Gy x 1", "mean_lung_dose_gy": None, "max_dose_gy": 6.5},
        {
            "plan": "longer name",
            "prescription": "8 Gy x 1",
            "mean_lung_dose_gy": 7.25,
            "max_dose_gy": math.pi,
        },
    ]
    lines = demo_module.format_key_table(rows).splitlines()
    assert lines[2].split()[:5] == ["A", "6", "Gy", "x", "1"] and lines[2].split()[5] == "-"
    assert "7.25" in lines[3] and lines[3].rstrip().endswith("3.1")


@pytest.fixture(scope="module")
def small_case():
    from hbiview.pipeline import load_case
    from hbiview.sample import make_phantom

    return load_case(make_phantom(spacing_mm=(20.0, 20.0, 20.0), noise_hu=0.0).ct)


@pytest.mark.filterwarnings("ignore::hbiview.errors.HbiviewWarning")
def test_case_names_what_it_lacks(small_case):
    from hbiview.errors import InputError, PlanError

    assert [s.name for s in small_case.structure_list()][:4] == ["Lungs", "Lung_L", "Lung_R", "Marrow"]
    with pytest.raises(InputError, match=r"no structure named 'Heart'.*available: Body"):
        small_case.structure_list(["Heart"])
    with pytest.raises(PlanError, match=r"unknown option 'levle'"):
        small_case.plan("spine", levle="T10")
    with pytest.raises(PlanError, match=r"'upper-hbl' is neither a preset \(upper-hbi"):
        small_case.plan("upper-hbl")
    plan = small_case.plan("upper-hbi")
    with pytest.raises(PlanError, match=r"apply to presets only"):
        small_case.plan(plan, level="T10")
    # presets use the case's landmarks: upper HBI ends and lower HBI starts at the iliac crest found once
    crest = small_case.landmarks.z("iliac_crest")
    upper_z = re.search(r"z (-?\d+) to (-?\d+) mm", small_case.plan("upper-hbi").description)
    lower_z = re.search(r"z (-?\d+) to (-?\d+) mm", small_case.plan("lower-hbi").description)
    assert float(upper_z.group(1)) == pytest.approx(crest, abs=0.5)  # printed to the mm
    assert float(lower_z.group(2)) == pytest.approx(crest, abs=0.5)
