"""One patient of a cohort: read the CT, segment it once, run every plan, and return one row per plan.

:func:`evaluate_patient` never raises for a patient's own problems: a CT that cannot be read, a plan that
cannot be placed or a bug in hbiview is recorded in the rows (``status`` "error" and the one-line
``error``), so that one bad patient never stops a cohort.
"""

from __future__ import annotations

import csv
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hbiview.errors import HbiviewError, HbiviewWarning, InputError, MissingInputError
from hbiview.labels import LANDMARK_NAMES

__all__ = ["CohortInput", "cohort_inputs", "evaluate_patient"]


@dataclass(frozen=True)
class CohortInput:
    """One patient of a cohort.

    Parameters
    ----------
    patient
        Label of the patient in the table (unique within the cohort).
    ct
        The CT folder or file.
    """

    patient: str
    ct: str


def cohort_inputs(
    cts: Sequence[str | os.PathLike[str]] = (), list_file: str | os.PathLike[str] | None = None
) -> list[CohortInput]:
    """The patients of a cohort, from CT folders and/or a list file.

    Parameters
    ----------
    cts
        CT folders or files; each patient is labelled with the folder's (or file's) name.
    list_file
        A CSV file with a ``ct`` column (paths relative to the CSV's folder allowed) and optionally a
        ``patient`` column.

    Returns
    -------
    list of CohortInput
        In the order given. The CTs are not opened here: a missing or broken CT is recorded when its
        turn comes, not refused up front.

    Raises
    ------
    InputError
        No patient at all, a list file without a ``ct`` column, or two patients with the same label.
    MissingInputError
        If the list file does not exist.
    """
    items = [CohortInput(Path(ct).name or os.fspath(ct), os.fspath(ct)) for ct in cts]
    if list_file is not None:
        source = Path(list_file)
        if not source.is_file():
            raise MissingInputError(f"{source}: no such file")
        try:
            with open(source, newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"{source}: not a readable CSV list of CTs ({exc})") from exc
        if not rows or "ct" not in rows[0]:
            raise InputError(f"{source}: a cohort list needs a 'ct' column (and optionally 'patient')")
        for number, row in enumerate(rows, start=2):
            text = (row.get("ct") or "").strip()
            if not text:
                raise InputError(f"{source}, line {number}: the 'ct' column is empty")
            path = Path(text) if Path(text).is_absolute() else source.parent / text
            label = (row.get("patient") or "").strip() or path.name
            items.append(CohortInput(label, os.fspath(path)))
    if not items:
        raise InputError("no CT given: name CT folders or a --list file")
    seen: dict[str, str] = {}
    for item in items:
        if item.patient in seen:
            raise InputError(
                f"two patients are labelled {item.patient!r} ({seen[item.patient]} and {item.ct}); "
                "give unique labels in a 'patient' column of a --list file"
            )
        seen[item.patient] = item.ct
    return items


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, HbiviewError):
        return text
    return f"internal error: {type(exc).__name__}: {text}"


def _warning_text(caught: Sequence[warnings.WarningMessage]) -> str:
    seen: list[str] = []
    for message in caught:
        if issubclass(message.category, HbiviewWarning):
            text = " ".join(str(message.message).split())
            if text not in seen:
                seen.append(text)
    return " | ".join(seen)


def _case_columns(case: Any) -> dict[str, Any]:
    z = case.ct.geometry.axis_coordinates_mm()[0]
    row: dict[str, Any] = {
        "slices": int(z.size),
        "scan_superior_mm": float(z.max()),
        "scan_inferior_mm": float(z.min()),
        "marrow_in_scan": float(case.anatomy.marrow_fraction_in_scan),
    }
    marks = case.landmarks
    for name in LANDMARK_NAMES:
        row[f"{name}_z_mm"] = marks.z(name) if name in marks else None
    top, bottom = row.get("vertex_z_mm"), row.get("soles_z_mm")
    row["stature_mm"] = None if top is None or bottom is None else float(top - bottom)
    return row


def _field_extent_mm(run: Any, body: Any) -> tuple[float | None, float | None]:
    """Top and bottom z (LPS mm) of the 50 % isodose inside the body, on the dose grid."""
    dose = run.dose
    inside = body.resampled(dose.geometry).mask if body.geometry != dose.geometry else body.mask
    hot = (np.asarray(dose.array) >= 0.5 * run.prescription_gy) & inside
    slices = np.flatnonzero(hot.any(axis=(1, 2)))
    if slices.size == 0:
        return None, None
    z = dose.geometry.axis_coordinates_mm()[0]
    return float(max(z[slices[0]], z[slices[-1]])), float(min(z[slices[0]], z[slices[-1]]))


def _separation_mm(run: Any, body: Any, step_mm: float = 1.0) -> float | None:
    """Body thickness along the first beam's central axis (mm): the tissue it crosses, couch excluded.

    ``None`` when the axis misses the body (a lower hemi-body field centred between the legs).
    """
    from hbiview.plans import SAD_MM

    source, direction, _, _ = run.plan.beams[0].frame()
    t = np.arange(0.0, 2.0 * SAD_MM, step_mm)
    index = np.rint(body.geometry.lps_to_index(source + t[:, None] * direction)).astype(int)
    ok = np.all((index >= 0) & (index < np.asarray(body.geometry.shape)), axis=1)
    crossed = int(np.count_nonzero(body.mask[index[ok, 0], index[ok, 1], index[ok, 2]]))
    return crossed * step_mm if crossed else None


def _plan_columns(case: Any, run: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "prescription_gy": float(run.prescription_gy),
        "fractions": int(run.plan.fractions),
        "heterogeneity": bool(run.heterogeneity),
        "mean_lung_dose_gy": run.mean_lung_dose_gy,
        "body_max_gy": float(run.metrics("Body")["max_gy"]) if "Body" in run.dvhs else None,
    }
    if "Lungs" in run.dvhs:
        row["lung_v5_pct"] = run.volume_pct("Lungs", 5.0)
        row["lung_v8_pct"] = run.volume_pct("Lungs", 8.0)
    if "Body" in case.structures:
        row["separation_mm"] = _separation_mm(run, case.structures["Body"])
        top, bottom = _field_extent_mm(run, case.structures["Body"])
        row["field_superior_mm"], row["field_inferior_mm"] = top, bottom
    marrow = case.structures.get("Marrow")
    if marrow is not None and marrow.weights is not None:
        row["marrow_above_half_rx"] = run.active_marrow_in_field()
        top, bottom = row.get("field_superior_mm"), row.get("field_inferior_mm")
        if top is not None and bottom is not None:
            above_bottom = case.active_marrow_fraction_above(bottom)
            above_top = case.active_marrow_fraction_above(top + 1e-6)
            row["marrow_in_field"] = float(above_bottom - above_top)
    return row


def evaluate_patient(
    item: CohortInput,
    plans: Sequence[str],
    *,
    grid_mm: float | None = None,
    heterogeneity: bool | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run every plan on one patient and return one row per plan (see :data:`hbiview.cohort.COLUMNS`).

    Parameters
    ----------
    item
        The patient.
    plans
        Preset names or TOML plan files.
    grid_mm
        Dose grid spacing (mm); default that of each plan.
    heterogeneity
        ``False``: water inside the body; ``None``: as each plan says.
    options
        Preset options per plan, e.g. ``{"lower-hbi": {"superior": "L4-L5"}}``.

    Returns
    -------
    list of dict
        One row per plan, in the order of ``plans``. Problems are recorded, never raised.
    """
    from hbiview.pipeline import load_case, run_plan

    base = {"patient": item.patient, "ct": item.ct}
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HbiviewWarning)
        try:
            case = load_case(item.ct)
            shared = _case_columns(case)  # segments the CT (once for every plan)
        except Exception as exc:  # recorded in the rows, never raised: one patient must not stop a cohort
            return [
                {
                    **base,
                    "plan": plan,
                    "status": "error",
                    "error": _one_line(exc),
                    "warnings": _warning_text(caught),
                    "case_seconds": time.perf_counter() - start,
                }
                for plan in plans
            ]
    case_seconds = time.perf_counter() - start
    case_warnings = list(caught)
    rows = []
    for plan in plans:
        plan_start = time.perf_counter()
        row: dict[str, Any] = {**base, **shared, "plan": plan, "case_seconds": case_seconds}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", HbiviewWarning)
            try:
                run = run_plan(
                    case,
                    plan,
                    grid_mm=grid_mm,
                    heterogeneity=heterogeneity,
                    **dict((options or {}).get(plan, {})),
                )
                row.update(_plan_columns(case, run))
                row["status"], row["error"] = "ok", None
            except Exception as exc:  # recorded, never raised (see above)
                row["status"], row["error"] = "error", _one_line(exc)
        row["warnings"] = _warning_text([*case_warnings, *caught])
        row["plan_seconds"] = time.perf_counter() - plan_start
        rows.append(row)
    return rows
