"""``hbiview plans`` and ``hbiview dose`` end to end, on the bundled sample patient."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from hbiview.cli import main
from hbiview.plans import list_presets, load_plan, preset

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


@lru_cache(maxsize=1)
def _sample_ct(path: str):
    from hbiview.io.dicom import read_ct

    return read_ct(path)


def test_plans_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plans"]) == 0
    out = capsys.readouterr().out
    for name, _ in list_presets():
        assert name in out
    assert main(["plans", "--json"]) == 0
    presets = json.loads(capsys.readouterr().out)["presets"]
    assert [p["name"] for p in presets] == [n for n, _ in list_presets()]


def test_plans_dump_loads_back_to_the_same_plan(
    sample_ct_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plans", "--dump", "upper-hbi", "--ct", str(sample_ct_dir), "-q"]) == 0
    path = tmp_path / "my.toml"
    path.write_text(capsys.readouterr().out)
    ct = _sample_ct(str(sample_ct_dir))
    loaded = load_plan(path, ct)
    assert loaded == preset("upper-hbi", ct)
    assert loaded.prescription_gy == 6.0 and loaded.fractions == 1  # RTOG 78-10 upper hemi-body


def test_dose_writes_rt_dose_normalised_to_the_prescription(
    sample_ct_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dose.dcm"
    assert main(["dose", str(sample_ct_dir), "--plan", "upper-hbi", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["plan"] == "upper-hbi" and summary["heterogeneity"] is True and summary["grid_mm"] == 5.0
    assert summary["dose_at_prescription_point_gy_per_fraction"] == pytest.approx(6.0, abs=1e-3)
    for beam in summary["beams"]:
        assert (
            beam["ssd_mm"] >= 1000 and max(beam["field_mm"]) <= 400 and beam["collimator_deg"] in (0.0, 45.0)
        )
    from scipy import ndimage

    from hbiview.io.rtdose import read_rtdose

    dose = read_rtdose(out)
    ct = _sample_ct(str(sample_ct_dir))
    assert dose.geometry.frame_of_reference_uid == ct.geometry.frame_of_reference_uid
    index = dose.geometry.lps_to_index(summary["prescription_point_lps_mm"])
    at_point = float(ndimage.map_coordinates(dose.array, index[:, None], order=1)[0])
    # the file gives 6 Gy at the prescription point: within 1 % (0.5 % normalisation, trilinear reading of a
    # 5 mm grid and the RT Dose integer scaling)
    assert at_point == pytest.approx(6.0, rel=0.01)
    # refuses to overwrite without --force (one line, exit 2)
    assert main(["dose", str(sample_ct_dir), "--plan", "upper-hbi", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_dose_rejects_bad_plans_in_one_line(
    sample_ct_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nprescription_gy = 2.0\n[[beams]]\nenergy = "8MV"\nfield_mm = [100, 100]\n')
    assert main(["dose", str(sample_ct_dir), "--plan", str(bad), "--out", str(tmp_path / "d.vti")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "beams[1].energy" in err and str(bad) in err
    assert main(["dose", str(sample_ct_dir), "--plan", "no-such-plan", "--out", str(tmp_path / "d.vti")]) == 2
    assert not (tmp_path / "d.vti").exists()


def test_dose_writes_nifti_without_heterogeneity(
    sample_ct_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nib = pytest.importorskip("nibabel")
    out = tmp_path / "spine.nii.gz"
    args = ["dose", str(sample_ct_dir), "--plan", "spine", "--set", "level=L2", "--set", "schedule=20x5"]
    assert main([*args, "--no-heterogeneity", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "heterogeneity off" in text and "4 Gy x 5 = 20 Gy" in text
    image = nib.load(str(out))
    # PA spine field prescribed at 5 cm depth: the maximum (near dmax) exceeds the 4 Gy x 5 given at depth
    assert 20.0 < float(np.asarray(image.dataobj).max()) < 30.0
