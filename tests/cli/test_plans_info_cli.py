"""``hbiview dose --plan lower-hbi``, ``hbiview plans --dump --out`` and ``hbiview info --landmarks``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from hbiview.cli import main
from hbiview.plans import load_plan

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


@lru_cache(maxsize=1)
def _truth() -> dict[str, float]:
    """Ground-truth landmark z (mm) of the synthetic patient behind sample_ct/."""
    from hbiview.sample import make_phantom

    return dict(make_phantom().landmarks_mm)


@lru_cache(maxsize=1)
def _ct(path: str):
    from hbiview.io.dicom import read_ct

    return read_ct(path)


def _count_landmark_searches(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """Record every landmark search (hbiview.anatomy.pipeline.segment_tissues, which finds them)."""
    import hbiview.anatomy.pipeline as anatomy_pipeline

    calls: list[float | None] = []
    original = anatomy_pipeline.segment_tissues

    def counting(*args, **kwargs):
        calls.append(kwargs.get("target_spacing_mm"))
        return original(*args, **kwargs)

    monkeypatch.setattr(anatomy_pipeline, "segment_tissues", counting)
    return calls


def test_dose_lower_hbi_prescribes_in_the_pelvis(
    sample_ct_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_landmark_searches(monkeypatch)
    out = tmp_path / "x.dcm"
    argv = ["dose", str(sample_ct_dir), "--plan", "lower-hbi", "--out", str(out), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert len(calls) == 1  # the landmarks are searched once for the preset, not again anywhere
    summary = json.loads(captured.out)
    x, _, z = summary["prescription_point_lps_mm"]
    # the sample patient's legs are apart below the perineum, so the field centre is in air: the point is
    # the pelvis midline at the femoral heads, found within one 5 mm slice + 10 mm of the phantom's truth
    # (issue 4's landmark tolerance)
    assert z == pytest.approx(_truth()["femoral_heads"], abs=15.0)
    assert x == pytest.approx(summary["beams"][0]["isocentre_lps_mm"][0], abs=0.1)  # on the central plane
    assert "between the legs" in summary["normalization"] and "femoral heads" in summary["normalization"]
    assert "between the legs" in captured.err  # and the user is told
    assert "jaws capped" in captured.err and 'inferior="knees"' in captured.err  # 972 mm > one field
    from scipy import ndimage

    from hbiview.io.rtdose import read_rtdose

    dose = read_rtdose(out)
    index = dose.geometry.lps_to_index(summary["prescription_point_lps_mm"])
    at_point = float(ndimage.map_coordinates(dose.array, index[:, None], order=1)[0])
    # RTOG 78-10 lower hemi-body: 8 Gy at the point, within 1 % (0.5 % normalisation, trilinear reading of
    # the 5 mm grid and the RT Dose integer scaling)
    assert at_point == pytest.approx(8.0, rel=0.01)


def test_plans_dump_out_writes_atomically_and_refuses_to_overwrite(
    sample_ct_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_landmark_searches(monkeypatch)
    target = tmp_path / "my.toml"
    # a mistyped preset leaves nothing behind (the shell's '> my.toml' would leave an empty file)
    assert main(["plans", "--dump", "lower-hbx", "--out", str(target)]) == 2
    assert "lower-hbx" in capsys.readouterr().err and not target.exists()
    assert main(["plans", "--dump", "upper-hbi", "--ct", str(sample_ct_dir), "--out", str(target)]) == 0
    assert len(calls) == 1  # one landmark search for the preset
    assert capsys.readouterr().out.strip() == f"wrote {target}"
    loaded = load_plan(target, _ct(str(sample_ct_dir)))
    assert loaded.name == "upper-hbi" and loaded.prescription_gy == 6.0  # RTOG 78-10 upper hemi-body
    assert [p.name for p in tmp_path.iterdir()] == ["my.toml"]  # no temporary file left
    # (stdout dumping: tests/cli/test_dose_cli.py::test_plans_dump_loads_back_to_the_same_plan)
    # an existing file is kept without --force, replaced with it
    before = target.read_text()
    code = main(["plans", "--dump", "pelvis", "--ct", str(sample_ct_dir), "--out", str(target)])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert target.read_text() == before
    code = main(["plans", "--dump", "pelvis", "--ct", str(sample_ct_dir), "--out", str(target), "--force"])
    assert code == 0 and load_plan(target).name == "pelvis"
    # --out without --dump is a usage error; the help names --out as the safe form
    assert main(["plans", "--out", str(tmp_path / "x.toml")]) == 2
    assert not (tmp_path / "x.toml").exists()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["plans", "--help"])
    assert "--out FILE is the safe form" in capsys.readouterr().out


def test_info_landmarks_table_and_json(sample_ct_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(sample_ct_dir), "--landmarks", "--json"]) == 0
    marks = json.loads(capsys.readouterr().out)["landmarks"]
    truth = _truth()
    slice_mm = float(_ct(str(sample_ct_dir)).geometry.spacing_mm[0])
    for name, z_true in truth.items():
        entry = marks[name]
        assert set(entry) == {"z_mm", "confidence", "note", "position", "estimate_mm"}
        assert entry["position"] == "in_scan" and entry["estimate_mm"] is None  # the sample is whole
        assert 0.0 <= entry["confidence"] <= 1.0 and entry["note"]
        # issue 4: landmark z within one slice + 10 mm of the phantom's ground truth
        assert entry["z_mm"] == pytest.approx(z_true, abs=slice_mm + 10.0), name
    assert {"C1", "T10", "L5", "S1"} <= set(marks)
    assert main(["info", str(sample_ct_dir), "--landmarks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Landmarks ("))
    table = lines[start + 3 : start + 3 + len(marks)]
    rows = {line.split()[0]: line for line in table}
    assert list(rows) == list(marks)
    # aligned: every z ends in the same column
    ends = set()
    for name, line in rows.items():
        value = f"{marks[name]['z_mm']:.1f}"
        ends.add(line.index(value) + len(value))
    assert len(ends) == 1
    assert float(rows["iliac_crest"].split()[1]) == pytest.approx(marks["iliac_crest"]["z_mm"], abs=0.05)


def test_info_landmarks_says_not_in_scan() -> None:
    from hbiview.cli.info import format_landmarks

    text = format_landmarks(
        {
            "vertex": {"z_mm": None, "confidence": 0.0, "note": "above the scan"},
            "iliac_crest": {"z_mm": 1050.0, "confidence": 0.8, "note": "top of the iliac crests"},
        }
    )
    lines = text.splitlines()
    assert "not in scan" in lines[3] and lines[3].split()[0] == "vertex"
    # the z column is right-aligned: both values end at the same column
    assert lines[3].index("not in scan") + len("not in scan") == lines[4].index("1050.0") + len("1050.0")
    assert np.isclose(float(lines[4].split()[1]), 1050.0)


@pytest.mark.filterwarnings("ignore::hbiview.errors.HbiviewWarning")
def test_a_case_searches_its_landmarks_once_for_every_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    from hbiview.pipeline import load_case
    from hbiview.sample import make_phantom

    case = load_case(make_phantom(spacing_mm=(20.0, 20.0, 20.0), noise_hu=0.0).ct)
    calls = _count_landmark_searches(monkeypatch)
    upper, lower = case.plan("upper-hbi"), case.plan("lower-hbi")
    # one coarse landmark search (find_landmarks), shared by both presets; it works on the landmark grid
    # (4 mm) or, on a CT coarser than that, on the CT's own grid (20 mm here)
    assert calls == [20.0]
    crest = case.plan_landmarks.z("iliac_crest")
    # upper HBI ends and lower HBI starts at that crest (printed to the mm)
    assert f"to {crest:.0f} mm" in lower.description and f"z {crest:.0f} to" in upper.description
    # the segmentation that follows keeps those landmarks, so structures and field borders agree
    assert case.landmarks.z("iliac_crest") == crest and len(calls) == 2
