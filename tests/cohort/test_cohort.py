"""Cohorts (issue 17): one row per patient and plan over many CTs, on Dask, with failures recorded.

The cohort is made of ``hbiview phantom`` variants (thin, arms up with a couch, a thorax-only partial
scan) at a coarse grid, plus a folder that holds no CT; the real CTs of ``../shared/data`` join in a test
of their own. The numbers in the table must be exactly those the pipeline computes for the same patient
and plan (the cohort transports them, it does not recompute them differently).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from hbiview.cli import main
from hbiview.cohort import COLUMNS, CohortInput, cohort_inputs, evaluate_patient, read_table, run_cohort
from hbiview.cohort.table import write_table
from hbiview.errors import InputError, MissingInputError

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

pytest.importorskip("dask.distributed", reason="hbiview[cohort] (dask[distributed]) is not installed")
pytest.importorskip("pyarrow", reason="hbiview[cohort] (pyarrow) is not installed")

SPACING_MM = (8.0, 6.0, 6.0)  # coarse: the cohort machinery is under test, the anatomy is tested elsewhere
PLANS = ["upper-hbi", "lower-hbi"]


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hbiview.io.dicom import write_ct
    from hbiview.sample import make_phantom

    root = tmp_path_factory.mktemp("cohort")
    variants = {
        "thin": {"lateral_scale": 0.85, "ap_scale": 0.85},
        "arms-up-couch": {"arms": "up", "couch": True},
        "thorax-only": {"z_range_mm": (1150.0, 1500.0)},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (name, options) in enumerate(variants.items()):
            phantom = make_phantom(spacing_mm=SPACING_MM, **options)
            write_ct(phantom.ct, root / name, patient_id=f"COHORT-{i}", uid_seed=name)
    (root / "broken").mkdir()
    (root / "broken" / "slice.dcm").write_bytes(b"not a DICOM file at all")
    return root


@pytest.fixture(scope="module")
def dask_run(cohort_dir: Path) -> tuple[Path, list[dict]]:
    """The cohort through the command line on a local Dask cluster with two workers."""
    out = cohort_dir / "cohort.parquet"
    cts = [str(cohort_dir / name) for name in ("thin", "arms-up-couch", "thorax-only", "broken")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dask's own start-up notices are not under test
        code = main(["batch", *cts, "--plan", *PLANS, "--out", str(out), "--workers", "2", "-q"])
    assert code == 0
    return out, read_table(out)


@pytest.mark.slow
def test_one_row_per_patient_and_plan_and_failures_recorded(dask_run):
    _, rows = dask_run
    assert sorted((r["patient"], r["plan"]) for r in rows) == sorted(
        (p, plan) for p in ("thin", "arms-up-couch", "thorax-only", "broken") for plan in PLANS
    )
    broken = [r for r in rows if r["patient"] == "broken"]
    assert all(r["status"] == "error" and "broken" in r["error"] for r in broken)
    whole = [r for r in rows if r["patient"] in ("thin", "arms-up-couch")]
    assert all(r["status"] == "ok" and r["error"] is None for r in whole), [r["error"] for r in whole]
    for row in whole:
        # shares of the body's active marrow: between 0 and what the scan holds (1 for a whole body)
        assert 0.0 <= row["marrow_above_half_rx"] <= row["marrow_in_scan"] + 1e-9
        assert 0.0 <= row["marrow_in_field"] <= row["marrow_in_scan"] + 1e-9
        assert row["field_inferior_mm"] < row["field_superior_mm"]
        assert row["case_seconds"] > 0 and row["plan_seconds"] > 0
    upper = {r["patient"]: r for r in whole if r["plan"] == "upper-hbi"}
    lower = {r["patient"]: r for r in whole if r["plan"] == "lower-hbi"}
    for patient in upper:
        # the upper field holds the lungs, the lower field does not
        assert upper[patient]["mean_lung_dose_gy"] > 5 * max(lower[patient]["mean_lung_dose_gy"], 0.01)
        # upper + lower cover most of the marrow between them (ICRP 110: 0.63 above, 0.37 below the crest;
        # the 50 % isodoses leave out a little at the borders, the feet and the vertex)
        both = upper[patient]["marrow_above_half_rx"] + lower[patient]["marrow_above_half_rx"]
        assert 0.85 <= both <= 1.02, both
        # a 6 Gy prescription: open AP/PA fields give at least the prescription somewhere in the body
        assert upper[patient]["body_max_gy"] >= 6.0
    # the thin patient is thinner on the central axis (AP scale 0.85) than the reference adult
    assert upper["thin"]["separation_mm"] < upper["arms-up-couch"]["separation_mm"]


@pytest.mark.slow
def test_rows_are_the_pipeline_numbers(dask_run, cohort_dir):
    from hbiview.pipeline import load_case, run_plan

    _, rows = dask_run
    row = next(r for r in rows if r["patient"] == "thin" and r["plan"] == "upper-hbi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = load_case(cohort_dir / "thin")
        run = run_plan(case, "upper-hbi")
    # same patient, same plan, same code: equal to floating-point round-off (the worker is another process)
    assert row["mean_lung_dose_gy"] == pytest.approx(run.mean_lung_dose_gy, rel=1e-9)
    assert row["lung_v5_pct"] == pytest.approx(run.volume_pct("Lungs", 5.0), rel=1e-9)
    assert row["marrow_above_half_rx"] == pytest.approx(run.active_marrow_in_field(), rel=1e-9)
    assert row["body_max_gy"] == pytest.approx(run.metrics("Body")["max_gy"], rel=1e-9)
    assert row["iliac_crest_z_mm"] == pytest.approx(case.landmarks.z("iliac_crest"))


@pytest.mark.slow
def test_partial_scan_row_says_what_is_missing(dask_run):
    _, rows = dask_run
    thorax = [r for r in rows if r["patient"] == "thorax-only"]
    for row in thorax:
        assert row["scan_inferior_mm"] >= 1150.0 - SPACING_MM[0]
        assert row["iliac_crest_z_mm"] is None  # the crest (~1050 mm) is below this scan
        # whatever a plan did on it, the row says it: an error, or warnings about what the scan lacks
        assert row["status"] == "error" or row["warnings"]


@pytest.mark.slow
def test_rerun_skips_patients_done_and_retries_failures(dask_run, cohort_dir):
    out, rows = dask_run
    cts = [CohortInput(name, str(cohort_dir / name)) for name in ("thin", "arms-up-couch", "broken")]
    before = {(r["patient"], r["plan"]): r for r in rows}
    again = run_cohort(cts, PLANS, out, workers=0)
    assert set(again.skipped) == {"thin", "arms-up-couch"}
    assert again.computed == ("broken",)
    after = {(r["patient"], r["plan"]): r for r in read_table(out)}
    assert after[("thin", "upper-hbi")] == before[("thin", "upper-hbi")]  # kept, not recomputed
    assert "broken" in again.failed


@pytest.mark.slow
def test_cohort_report(dask_run, tmp_path, capsys):
    out, _ = dask_run
    page = tmp_path / "cohort.html"
    assert main(["report", str(out), "--out", str(page)]) == 0
    text = page.read_text()
    assert text.count("<img") == 2  # box plots by plan, scatter against separation and stature
    assert "upper-hbi" in text and "lower-hbi" in text
    assert re.search(r"<h2>Failures</h2>.*broken", text, re.S)
    assert main(["report", str(out), "--plan", "upper-hbi", "--out", str(tmp_path / "x.html")]) == 2
    assert "leave out --plan" in capsys.readouterr().err


def test_table_round_trip_parquet_and_csv(tmp_path):
    rows = [
        {
            "patient": "a",
            "ct": "/ct/a",
            "plan": "upper-hbi",
            "status": "ok",
            "mean_lung_dose_gy": 7.25,
            "fractions": 1,
            "heterogeneity": True,
            "iliac_crest_z_mm": None,
            "slices": 300,
        },
        {"patient": "b", "ct": "/ct/b", "plan": "upper-hbi", "status": "error", "error": "b: no DICOM files"},
    ]
    for suffix in (".parquet", ".csv"):
        path = write_table(rows, tmp_path / f"t{suffix}")
        back = read_table(path)
        assert [list(r) for r in back] == [list(COLUMNS)] * 2
        assert back[0]["mean_lung_dose_gy"] == 7.25 and back[0]["fractions"] == 1
        assert back[0]["heterogeneity"] is True and back[0]["iliac_crest_z_mm"] is None
        assert back[1]["error"] == "b: no DICOM files" and back[1]["mean_lung_dose_gy"] is None
    with pytest.raises(InputError, match=r"parquet or \.csv"):
        write_table(rows, tmp_path / "t.xlsx")


def test_inputs_from_a_list_file(tmp_path):
    listing = tmp_path / "cohort.csv"
    listing.write_text("patient,ct\np1,ct/one\n,ct/two\n")
    items = cohort_inputs(["/data/p9"], listing)
    assert items == [
        CohortInput("p9", "/data/p9"),
        CohortInput("p1", str(tmp_path / "ct" / "one")),
        CohortInput("two", str(tmp_path / "ct" / "two")),
    ]
    with pytest.raises(InputError, match="labelled 'p9'"):
        cohort_inputs(["/data/p9", "/other/p9"])
    (tmp_path / "bad.csv").write_text("path\nx\n")
    with pytest.raises(InputError, match="'ct' column"):
        cohort_inputs([], tmp_path / "bad.csv")
    with pytest.raises(MissingInputError):
        cohort_inputs([], tmp_path / "none.csv")
    with pytest.raises(InputError, match="no CT given"):
        cohort_inputs([])


def test_bad_command_lines_are_one_line_errors(tmp_path, capsys):
    assert main(["batch", str(tmp_path), "--plan", "upper-hbi", "--out", str(tmp_path / "c.xlsx")]) == 2
    assert "parquet or .csv" in capsys.readouterr().err
    assert main(["batch", "--plan", "upper-hbi", "--out", str(tmp_path / "c.csv")]) == 2
    assert "no CT given" in capsys.readouterr().err
    assert not (tmp_path / "c.csv").exists()


@pytest.mark.slow
def test_real_ct_in_a_cohort(shared_dir):
    real = shared_dir / "data" / "real_ct" / "totalsegmentator_abdomen" / "ct"
    if not real.is_dir():
        pytest.skip("shared/data/real_ct is not on this machine")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = evaluate_patient(CohortInput("abdomen", str(real)), ["lower-hbi"])
    (row,) = rows
    # an abdomen-pelvis CT holds the iliac crest: the lower field's superior border
    assert row["iliac_crest_z_mm"] is not None
    assert row["scan_inferior_mm"] <= row["iliac_crest_z_mm"] <= row["scan_superior_mm"]
    assert row["status"] == "ok", row["error"]
    assert row["field_superior_mm"] == pytest.approx(row["iliac_crest_z_mm"], abs=30.0)  # 50 % edge
    assert 0.0 < row["marrow_above_half_rx"] <= row["marrow_in_scan"] + 1e-9
    json.dumps(row)  # a row is plain data (no numpy scalars): it travels to CSV, Parquet and JSON
    assert not any(isinstance(v, np.generic) for v in row.values())
