"""The bad-input corpus, end to end through the command line.

Every case runs ``hbiview.cli.main([...])`` (a few run the installed ``hbiview`` in a subprocess) and checks
what a user sees: the exit code (2 for input the user must fix), exactly one line on stderr that names the
file or option and the problem, no traceback, and an output folder left exactly as it was (no partial or
temporary file). The DICOM inputs are made here from a tiny synthetic CT (8 slices of 32 x 32) with
``write_ct`` and pydicom edits; the small text inputs (plan files, a names map, non-DICOM files) are in
``tests/cli/bad_inputs/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from hbiview.cli import main
from hbiview.geometry import Geometry
from hbiview.io.dicom import write_ct
from hbiview.io.rtdose import write_rtdose
from hbiview.io.rtstruct_write import write_rtstruct
from hbiview.volume import CTVolume, DoseGrid, Structure

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parent / "bad_inputs"
SHAPE = (8, 32, 32)
SPACING_MM = (10.0, 10.0, 10.0)
ORIGIN_MM = (-155.0, -155.0, 0.0)


# ---------------------------------------------------------------------------------------------- helpers
def tiny_ct(frame: str | None = None, shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> CTVolume:
    """A water cylinder (radius 120 mm, 0 HU) in air (-1000 HU): 8 slices of 32 x 32 voxels of 10 mm."""
    origin = tuple(o + s for o, s in zip(ORIGIN_MM, shift_mm))
    geometry = Geometry.from_spacing(SHAPE, SPACING_MM, origin, frame_of_reference_uid=frame)
    _, y, x = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    r_mm = np.hypot((x - 15.5) * SPACING_MM[2], (y - 15.5) * SPACING_MM[1])
    hu = np.where(r_mm < 120.0, 0, -1000).astype(np.int16)
    return CTVolume(geometry, hu)


def edit(path: Path, **attributes: object) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (hidden ones too) with its size and modification time."""
    out = {}
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        out[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return out


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(err: str, *needles: str) -> str:
    """Exactly one stderr line, an 'hbiview: error:' line naming every needle (regular expressions)."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{err}"
    line = lines[0]
    assert line.startswith("hbiview: error: "), line
    for needle in needles:
        assert re.search(needle, line), f"{needle!r} not in {line!r}"
    return line


def hbiview_executable() -> str:
    candidate = Path(sys.executable).with_name("hbiview")
    return str(candidate) if candidate.exists() else (shutil.which("hbiview") or "hbiview")


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The DICOM bad inputs, made once for the module: each key is a folder or file."""
    root = tmp_path_factory.mktemp("bad_dicom")
    made: dict[str, Path] = {}

    def series(name: str, **kwargs: object) -> list[Path]:
        made[name] = root / name
        return write_ct(tiny_ct(), root / name, **kwargs)  # type: ignore[arg-type]

    series("good", uid_seed="hbiview-bad-inputs-good")
    made["empty"] = root / "empty"
    made["empty"].mkdir()
    made["not_dicom"] = root / "not_dicom"
    made["not_dicom"].mkdir()
    shutil.copy(CORPUS / "not_dicom.txt", made["not_dicom"] / "notes.txt")
    shutil.copy(CORPUS / "not_dicom.zip", made["not_dicom"] / "export.zip")
    (made["not_dicom"] / "IM0001").write_bytes(bytes(range(256)) * 8)  # no extension, binary junk

    for path in series("mr"):
        edit(path, Modality="MR")

    files = series("truncated", transfer_syntax="explicit")
    data = files[3].read_bytes()
    files[3].write_bytes(data[:-700])  # cut inside the pixel data (32 x 32 x 2 = 2048 bytes)

    files = series("truncated_header", transfer_syntax="explicit")
    files[5].write_bytes(files[5].read_bytes()[:300])  # cut inside the header

    files = series("missing_slice")
    files[4].unlink()  # the slice at z = 45 mm

    files = series("mixed_sizes", transfer_syntax="explicit")
    ds = pydicom.dcmread(files[2])
    ds.Rows, ds.Columns = 16, 16
    ds.PixelData = np.zeros((16, 16), "<u2").tobytes()
    ds.save_as(files[2])

    files = series("mixed_orientation")
    edit(files[1], ImageOrientationPatient=[1, 0, 0, 0, 0.8, -0.6])

    angle = np.radians(12.0)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    axial = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    ct = tiny_ct()
    oblique = CTVolume(Geometry.from_spacing(SHAPE, SPACING_MM, ORIGIN_MM, rotation @ axial), ct.array)
    made["oblique"] = root / "oblique"
    write_ct(oblique, made["oblique"])

    affine = np.array(ct.geometry.affine)
    affine[1, 0] = SPACING_MM[0] * np.tan(np.radians(20.0))  # 20 degrees of gantry tilt
    made["tilt"] = root / "tilt"
    write_ct(CTVolume(Geometry(SHAPE, affine), ct.array), made["tilt"])

    files = series("bad_j2k", transfer_syntax="jpeg2000")
    ds = pydicom.dcmread(files[2])
    frame = bytearray(ds.PixelData)
    frame[40:200] = bytes(160)  # zero the middle of the JPEG 2000 codestream header
    ds.PixelData = bytes(frame)
    ds.save_as(files[2])

    files = series("duplicate")
    copy = made["duplicate"] / "copy.dcm"
    shutil.copy(files[2], copy)
    edit(copy, SOPInstanceUID=generate_uid())

    # RT objects on the good CT: a 60 mm cube, written as RTSTRUCT and covered by an RT Dose
    from hbiview.io.dicom import read_ct

    good = read_ct(made["good"])
    cube = np.zeros(SHAPE, dtype=bool)
    cube[2:6, 13:19, 13:19] = True
    structure = Structure(good.geometry, cube, name="Cube")
    made["rtstruct"] = write_rtstruct([structure], good, root / "rtstruct.dcm")
    ramp = np.broadcast_to(np.linspace(1.0, 3.0, SHAPE[2], dtype=np.float32), SHAPE)
    made["rtdose"] = write_rtdose(DoseGrid(good.geometry, ramp, 1, "ramp"), root / "rtdose.dcm", ct=good)
    # the same structure set drawn on a CT of another frame of reference
    other = tiny_ct(frame=generate_uid())
    made["rtstruct_other_frame"] = write_rtstruct(
        [Structure(other.geometry, cube, name="Cube")], other, root / "rtstruct_other_frame.dcm"
    )
    # an RT Dose in the good CT's frame but 2 m away from every structure
    far = Geometry.from_spacing(
        SHAPE,
        SPACING_MM,
        (ORIGIN_MM[0], ORIGIN_MM[1], 2000.0),
        frame_of_reference_uid=good.geometry.frame_of_reference_uid,
    )
    made["rtdose_far"] = write_rtdose(DoseGrid(far, ramp, 1, "far"), root / "rtdose_far.dcm", ct=good)
    return made


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """An output folder holding one earlier result, to check that a failed command leaves it unchanged."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "earlier.txt").write_text("an earlier result\n")
    return folder


@pytest.fixture
def good_plan(tmp_path: Path) -> Path:
    """A valid single-field plan for the tiny CT (6 MV, 100 x 100 mm, SSD 900 mm, 2 Gy at 50 mm)."""
    path = tmp_path / "good_plan.toml"
    path.write_text(
        'name = "AP 6MV"\nprescription_gy = 2.0\nnormalization = { point = "depth", depth_mm = 50 }\n'
        'grid_mm = 10.0\n[[beams]]\nenergy = "6MV"\ngantry_deg = 0\nssd_mm = 900\nfield_mm = [100, 100]\n'
    )
    return path


# ---------------------------------------------------------------------------- reading CT input (info)
CT_CASES = [
    # (corpus key, the words the one stderr line must hold)
    ("empty", [r"empty", r"no (DICOM|files)|holds no"]),
    ("not_dicom", [r"not_dicom", r"no DICOM|not DICOM|no CT"]),
    ("mr", [r"mr", r"no CT image series", r"MR"]),
    ("truncated", [r"CT0004\.dcm", r"truncated"]),
    ("truncated_header", [r"CT0006\.dcm"]),
    ("mixed_sizes", [r"CT0003\.dcm", r"16 x 16", r"mixed image sizes"]),
    ("mixed_orientation", [r"CT0002\.dcm", r"mixed orientations"]),
    ("oblique", [r"oblique", r"12\.0 degrees"]),
    ("tilt", [r"gantry tilt", r"20\.0 degrees"]),
    # known bug (io.dicom): the message carries pydicom's multi-line list of decoder plugins
    ("bad_j2k", [r"CT0003\.dcm", r"cannot decode the pixel data"]),
    ("duplicate", [r"copy\.dcm", r"CT0003\.dcm", r"duplicate"]),
]


@pytest.mark.parametrize(("key", "needles"), CT_CASES, ids=[c[0] for c in CT_CASES])
def test_bad_ct_folder_is_one_line_and_exit_2(corpus_dir, key, needles, capsys):
    code, out, err = run_cli(["info", str(corpus_dir[key])], capsys)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, *needles)


def test_missing_path(tmp_path, capsys):
    missing = tmp_path / "no_such_folder"
    code, _, err = run_cli(["info", str(missing)], capsys)
    assert code == 2
    assert_one_error_line(err, re.escape(str(missing)), r"not exist|no such|not found")


def test_single_non_dicom_file(capsys):
    code, _, err = run_cli(["info", str(CORPUS / "not_dicom.txt")], capsys)
    assert code == 2
    assert_one_error_line(err, r"not_dicom\.txt", r"not a DICOM|no DICOM|not DICOM")


def test_unknown_series_uid(corpus_dir, capsys):
    code, _, err = run_cli(["info", str(corpus_dir["good"]), "--series", "1.2.3.4.5"], capsys)
    assert code == 2
    assert_one_error_line(err, r"1\.2\.3\.4\.5")


def test_missing_slice_is_resampled_with_one_warning(corpus_dir, capsys):
    # 'hbiview info' has no --on-gap option: the reader resamples and says so in one warning line
    code, out, err = run_cli(["info", str(corpus_dir["missing_slice"]), "--json"], capsys)
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hbiview: warning: "), err
    # slice 4 (z = 40 mm) was deleted: the gap runs from its neighbours at 30 and 50 mm
    assert re.search(r"missing_slice: slices missing \(1 missing between 30\.00 and 50\.00 mm", lines[0])
    assert "resampled" in lines[0]
    assert '"shape": [\n    8,' in out  # resampled back to 8 slices every 10 mm


def test_dose_refuses_bad_ct_before_writing(corpus_dir, out_dir, capsys):
    before = snapshot(out_dir)
    code, _, err = run_cli(
        ["dose", str(corpus_dir["oblique"]), "--plan", "upper-hbi", "--out", str(out_dir / "d.dcm")], capsys
    )
    assert code == 2
    assert_one_error_line(err, r"oblique")
    assert snapshot(out_dir) == before


# ------------------------------------------------------------------------------------- plans (dose)
PLAN_CASES = [
    ("plan_syntax_error.toml", [r"plan_syntax_error\.toml", r"not valid TOML"]),
    ("plan_unknown_key.toml", [r"plan_unknown_key\.toml", r"unknown key", r"presciption_gy"]),
    ("plan_unknown_beam_key.toml", [r"plan_unknown_beam_key\.toml", r"beams\[1\]\.gantry"]),
    ("plan_unknown_energy.toml", [r"plan_unknown_energy\.toml", r"energy", r"25MV"]),
    ("plan_negative_dose.toml", [r"plan_negative_dose\.toml", r"prescription_gy", r"-2"]),
    ("plan_absurd_dose.toml", [r"plan_absurd_dose\.toml", r"prescription_gy", r"300"]),
    ("plan_absurd_total.toml", [r"plan_absurd_total\.toml", r"600 Gy"]),
    ("plan_zero_field.toml", [r"plan_zero_field\.toml", r"beams\[1\]\.field_mm"]),
    ("plan_field_outside_ct.toml", [r"plan_field_outside_ct\.toml", r"field_mm", r"outside the CT"]),
    ("plan_no_beams.toml", [r"plan_no_beams\.toml", r"beams"]),
    ("plan_wrong_type.toml", [r"plan_wrong_type\.toml", r"prescription_gy"]),
]


@pytest.mark.parametrize(("name", "needles"), PLAN_CASES, ids=[c[0] for c in PLAN_CASES])
def test_bad_plan_file(corpus_dir, out_dir, name, needles, capsys):
    before = snapshot(out_dir)
    argv = ["dose", str(corpus_dir["good"]), "--plan", str(CORPUS / name), "--out", str(out_dir / "d.dcm")]
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, *needles)
    assert snapshot(out_dir) == before


def test_missing_plan_file(corpus_dir, out_dir, capsys):
    before = snapshot(out_dir)
    argv = ["dose", str(corpus_dir["good"]), "--plan", "no_such_plan.toml", "--out", str(out_dir / "d.dcm")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"no_such_plan\.toml", r"not found")
    assert snapshot(out_dir) == before


def test_unknown_preset(corpus_dir, out_dir, capsys):
    before = snapshot(out_dir)
    argv = ["dose", str(corpus_dir["good"]), "--plan", "upper-hbl", "--out", str(out_dir / "d.dcm")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"upper-hbl", r"upper-hbi")  # names the typo and the real presets
    assert snapshot(out_dir) == before


def test_unknown_preset_option(corpus_dir, out_dir, capsys):
    before = snapshot(out_dir)
    argv = [
        "dose",
        str(corpus_dir["good"]),
        "--plan",
        "spine",
        "--set",
        "levle=T10",
        "--out",
        str(out_dir / "d.dcm"),
    ]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"levle", r"level")
    assert snapshot(out_dir) == before


def test_unknown_preset_in_plans_dump(capsys):
    code, out, err = run_cli(["plans", "--dump", "lower-hbx"], capsys)
    assert code == 2
    assert out == ""  # no half-written TOML on stdout
    assert_one_error_line(err, r"lower-hbx", r"lower-hbi")


# ------------------------------------------------------------------------------------------- outputs
def test_existing_output_file_without_force(corpus_dir, out_dir, good_plan, capsys):
    (out_dir / "dose.dcm").write_bytes(b"an earlier dose")
    before = snapshot(out_dir)
    argv = ["dose", str(corpus_dir["good"]), "--plan", str(good_plan), "--out", str(out_dir / "dose.dcm")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"dose\.dcm", r"already exists", r"--force")
    assert snapshot(out_dir) == before


def test_unknown_output_format(corpus_dir, out_dir, good_plan, capsys):
    before = snapshot(out_dir)
    argv = ["dose", str(corpus_dir["good"]), "--plan", str(good_plan), "--out", str(out_dir / "dose.xyz")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"dose\.xyz", r"\.dcm")
    assert snapshot(out_dir) == before


def test_output_folder_does_not_exist(corpus_dir, tmp_path, good_plan, capsys):
    target = tmp_path / "no" / "such" / "dose.dcm"
    argv = ["dose", str(corpus_dir["good"]), "--plan", str(good_plan), "--out", str(target)]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"dose\.dcm", r"does not exist")
    assert not (tmp_path / "no").exists()


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write into: mode 0555, or for root (who ignores modes) /proc."""
    if os.geteuid() == 0:
        return Path("/proc")
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def _entries(folder: Path) -> set[str]:
    """What the folder holds, less /proc's process entries, which come and go while the test runs."""
    return {name for name in os.listdir(folder) if not name.isdigit()}


def test_unwritable_output_folder_dose(corpus_dir, tmp_path, good_plan, capsys):
    # known bug (io.atomic): when the folder passes os.access but cannot be written (root, a read-only
    # mount, a full disk), the OSError of the temporary file escapes as an internal error (exit 1)
    folder = _unwritable_folder(tmp_path)
    before = _entries(folder)
    argv = ["dose", str(corpus_dir["good"]), "--plan", str(good_plan), "--out", str(folder / "dose.dcm")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, re.escape(str(folder)), r"not writable|cannot write|permission")
    assert _entries(folder) == before


def test_unwritable_output_folder_structures(corpus_dir, tmp_path, capsys):
    folder = _unwritable_folder(tmp_path)
    argv = ["structures", str(corpus_dir["good"]), "--out", str(folder / "rtss.dcm")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, re.escape(str(folder)), r"not writable|cannot write|permission")


def test_output_is_a_directory(corpus_dir, out_dir, good_plan, capsys):
    (out_dir / "dose.dcm").mkdir()
    before = snapshot(out_dir)
    argv = ["dose", str(corpus_dir["good"]), "--plan", str(good_plan), "--out", str(out_dir / "dose.dcm")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"dose\.dcm", r"directory")
    assert snapshot(out_dir) == before


def test_demo_refuses_a_non_empty_folder(out_dir, capsys):
    before = snapshot(out_dir)
    code, out, err = run_cli(["demo", "--out", str(out_dir)], capsys)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, re.escape(str(out_dir)), r"not empty", r"--force")
    assert snapshot(out_dir) == before
    assert not [p for p in out_dir.parent.iterdir() if p.name.startswith(".out.")]  # no staging folder


def test_demo_refuses_a_file_as_folder(out_dir, capsys):
    code, _, err = run_cli(["demo", "--out", str(out_dir / "earlier.txt")], capsys)
    assert code == 2
    assert_one_error_line(err, r"earlier\.txt", r"not a folder")


def test_demo_refuses_the_current_folder(out_dir, monkeypatch, capsys):
    monkeypatch.chdir(out_dir)
    before = snapshot(out_dir)
    code, _, err = run_cli(["demo", "--out", ".", "--force"], capsys)  # --force must not replace the cwd
    assert code == 2
    assert_one_error_line(err, r"current folder")
    assert snapshot(out_dir) == before


def test_demo_series_without_ct(tmp_path, capsys):
    code, _, err = run_cli(["demo", "--out", str(tmp_path / "demo"), "--series", "1.2.3"], capsys)
    assert code == 2
    assert_one_error_line(err, r"--series", r"--ct")
    assert not (tmp_path / "demo").exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder either


def test_demo_on_a_bad_ct_leaves_nothing(corpus_dir, tmp_path, capsys):
    code, _, err = run_cli(["demo", "--out", str(tmp_path / "demo"), "--ct", str(corpus_dir["mr"])], capsys)
    assert code == 2
    assert_one_error_line(err, r"no CT image series")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its staging copy


# ----------------------------------------------------------------------------------- RT objects (dvh)
def test_rtstruct_from_another_frame_of_reference(corpus_dir, capsys):
    argv = [
        "dvh",
        "--rtdose",
        str(corpus_dir["rtdose"]),
        "--rtstruct",
        str(corpus_dir["rtstruct_other_frame"]),
    ]
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, r"rtstruct_other_frame\.dcm|rtdose\.dcm", r"[Ff]rame of [Rr]eference")


def test_rtdose_that_does_not_overlap_the_structures(corpus_dir, capsys):
    argv = ["dvh", "--rtdose", str(corpus_dir["rtdose_far"]), "--rtstruct", str(corpus_dir["rtstruct"])]
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, r"rtdose_far\.dcm", r"does not overlap")


def test_ct_slice_given_as_rtdose(corpus_dir, capsys):
    ct_file = sorted(corpus_dir["good"].glob("*.dcm"))[0]
    argv = ["dvh", "--rtdose", str(ct_file), "--rtstruct", str(corpus_dir["rtstruct"])]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, re.escape(ct_file.name), r"RT ?Dose|RTDOSE")


def test_rtdose_given_as_rtstruct(corpus_dir, capsys):
    argv = ["dvh", "--rtdose", str(corpus_dir["rtdose"]), "--rtstruct", str(corpus_dir["rtdose"])]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"rtdose\.dcm", r"RT ?Struct|RTSTRUCT|structure set")


def test_missing_rtstruct(corpus_dir, tmp_path, capsys):
    missing = tmp_path / "rtss.dcm"
    code, _, err = run_cli(["dvh", "--rtdose", str(corpus_dir["rtdose"]), "--rtstruct", str(missing)], capsys)
    assert code == 2
    assert_one_error_line(err, r"rtss\.dcm", r"not found|not exist|no such")


def test_dvh_curves_file_exists_without_force(corpus_dir, out_dir, capsys):
    before = snapshot(out_dir)
    argv = ["dvh", "--rtdose", str(corpus_dir["rtdose"]), "--rtstruct", str(corpus_dir["rtstruct"]),
            "--curves", str(out_dir / "earlier.txt")]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"earlier\.txt", r"already exists")
    assert snapshot(out_dir) == before


def test_report_unknown_format(corpus_dir, out_dir, capsys):
    before = snapshot(out_dir)
    argv = ["report", "--rtdose", str(corpus_dir["rtdose"]), "--rtstruct", str(corpus_dir["rtstruct"]),
            "--out", str(out_dir / "report.docx")]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"report\.docx", r"\.pdf")
    assert snapshot(out_dir) == before


def test_report_with_a_missing_image(corpus_dir, out_dir, capsys):
    before = snapshot(out_dir)
    argv = ["report", "--rtdose", str(corpus_dir["rtdose"]), "--rtstruct", str(corpus_dir["rtstruct"]),
            "--out", str(out_dir / "report.html"), "--image", "axial=nowhere.png"]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"nowhere\.png")
    assert snapshot(out_dir) == before


def test_dvh_zero_fractions(corpus_dir, capsys):
    argv = ["dvh", "--rtdose", str(corpus_dir["rtdose"]), "--rtstruct", str(corpus_dir["rtstruct"]),
            "--fractions", "0"]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"--fractions", r"0")


def test_bad_names_map(corpus_dir, out_dir, capsys):
    before = snapshot(out_dir)
    argv = ["structures", str(corpus_dir["good"]), "--names-map", str(CORPUS / "names_map_bad.toml"),
            "--out", str(out_dir / "rtss.dcm")]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"names_map_bad\.toml", r"Lung_Middle")
    assert snapshot(out_dir) == before


# ------------------------------------------------------------------------------ render, view, phantom
def test_render_with_nothing_to_write(corpus_dir, capsys):
    code, _, err = run_cli(["render", str(corpus_dir["good"]), "--plan", "upper-hbi"], capsys)
    assert code == 2
    assert_one_error_line(err, r"--out", r"--html")


def test_render_png_with_wrong_suffix(corpus_dir, out_dir, capsys):
    before = snapshot(out_dir)
    argv = ["render", str(corpus_dir["good"]), "--plan", "upper-hbi", "--out", str(out_dir / "fig.jpg")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"fig\.jpg", r"\.png")
    assert snapshot(out_dir) == before


def test_view_without_display(corpus_dir, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = run_cli(["view", str(corpus_dir["good"]), "--plan", "upper-hbi"], capsys)
    assert code == 2
    assert_one_error_line(err, r"display", r"--html")


def test_phantom_negative_size(tmp_path, capsys):
    argv = ["phantom", "water", "--size-mm", "-400", "400", "400", "--out", str(tmp_path / "water")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_error_line(err, r"size")
    assert not (tmp_path / "water").exists()


def test_argparse_missing_required_option(capsys):
    # argparse's own convention: a usage line, then one 'error:' line naming the option; exit 2
    code, _, err = run_cli(["dose", "sample_ct"], capsys)
    assert code == 2
    assert "Traceback" not in err
    assert re.search(r"error: the following arguments are required: --plan", err.splitlines()[-1])


# --------------------------------------------------------------------------- a real terminal (subprocess)
SUBPROCESS_CASES = [
    (["info", "{missing}"], [r"no_such_folder"]),
    (["info", "{mr}"], [r"no CT image series"]),
    # OpenJPEG's C library writes to the terminal's stderr itself: only a subprocess sees that
    (["info", "{bad_j2k}"], [r"CT0003\.dcm", r"cannot decode the pixel data"]),
    (
        ["dose", "{good}", "--plan", str(CORPUS / "plan_unknown_energy.toml"), "--out", "{out}/d.dcm"],
        [r"25MV"],
    ),
]


@pytest.mark.parametrize(("argv", "needles"), SUBPROCESS_CASES, ids=["missing", "mr", "bad_j2k", "energy"])
def test_no_traceback_reaches_the_terminal(corpus_dir, out_dir, tmp_path, argv, needles):
    values = {"missing": str(tmp_path / "no_such_folder"), "out": str(out_dir)}
    values.update({k: str(v) for k, v in corpus_dir.items()})
    before = snapshot(out_dir)
    env = dict(os.environ, HBIVIEW_NO_PROGRESS="1")
    env.pop("HBIVIEW_DEBUG", None)
    done = subprocess.run(
        [hbiview_executable(), *(a.format(**values) for a in argv)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert_one_error_line(done.stderr, *needles)
    assert snapshot(out_dir) == before
