"""The cohort table: one row per patient and plan, its columns, and its files (Parquet or CSV).

The columns are fixed and documented in :data:`COLUMNS`, so that a table written by one run can be
resumed by another, read by pandas, R or a spreadsheet, and reported by ``hbiview report cohort.parquet``.
Writing is atomic: the table on disk is always a whole table.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hbiview.errors import InputError, MissingInputError
from hbiview.io.atomic import atomic_path
from hbiview.labels import LANDMARK_NAMES

__all__ = ["COLUMNS", "TABLE_SUFFIXES", "read_table", "write_table"]

#: File types a cohort table can be written as.
TABLE_SUFFIXES = (".parquet", ".csv")

_LANDMARK_COLUMNS = {
    f"{name}_z_mm": ("float", f"z (LPS mm) of the {name.replace('_', ' ')}; empty when not found in the scan")
    for name in LANDMARK_NAMES
}

#: Column name -> (type, meaning). Types: "str", "float", "int", "bool".
COLUMNS: dict[str, tuple[str, str]] = {
    "patient": ("str", "patient label (the CT folder's name, or the 'patient' column of the list)"),
    "ct": ("str", "the CT folder or file as given"),
    "plan": ("str", "plan preset or TOML plan file"),
    "status": ("str", "'ok', or 'error' when the patient or the plan failed (see 'error')"),
    "error": ("str", "the one-line error when status is 'error'"),
    "warnings": ("str", "hbiview's warnings for this patient and plan, separated by ' | '"),
    "case_seconds": ("float", "wall time to read and segment the CT (s), shared by the patient's plans"),
    "plan_seconds": ("float", "wall time of this plan's dose and DVHs (s)"),
    "slices": ("int", "number of CT slices"),
    "scan_superior_mm": ("float", "z of the scan's top slice (LPS mm)"),
    "scan_inferior_mm": ("float", "z of the scan's bottom slice (LPS mm)"),
    **_LANDMARK_COLUMNS,
    "stature_mm": ("float", "vertex to soles (mm) when both are in the scan"),
    "separation_mm": ("float", "body thickness along the first beam's central axis (mm)"),
    "prescription_gy": ("float", "prescribed total dose (Gy)"),
    "fractions": ("int", "number of fractions"),
    "heterogeneity": ("bool", "dose computed with the CT densities (False: water inside the body)"),
    "field_superior_mm": ("float", "top of the 50 % isodose inside the body (LPS mm)"),
    "field_inferior_mm": ("float", "bottom of the 50 % isodose inside the body (LPS mm)"),
    "mean_lung_dose_gy": ("float", "mean dose to both lungs (Gy, total course); empty without lungs"),
    "lung_v5_pct": ("float", "percentage of lung volume receiving at least 5 Gy"),
    "lung_v8_pct": ("float", "percentage of lung volume receiving at least 8 Gy"),
    "marrow_in_field": (
        "float",
        "share (0-1) of the body's active marrow between the field's superior and inferior borders",
    ),
    "marrow_above_half_rx": (
        "float",
        "share (0-1) of the body's active marrow receiving at least 50 % of the prescription",
    ),
    "marrow_in_scan": ("float", "share (0-1) of the body's active marrow that the scan holds"),
    "body_max_gy": ("float", "maximum dose in the body (Gy, total course)"),
}

_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "float": float,
    "int": lambda text: int(float(text)),
    "bool": lambda text: str(text).strip().lower() in ("true", "1", "yes"),
}


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with every column, in order; missing or NaN values become ``None``."""
    out: dict[str, Any] = {}
    for name, (kind, _) in COLUMNS.items():
        value = row.get(name)
        if isinstance(value, float) and math.isnan(value):
            value = None
        if value is not None and kind == "float":
            value = float(value)
        elif value is not None and kind == "int":
            value = int(value)
        elif value is not None and kind == "bool":
            value = bool(value)
        elif value is not None and kind == "str":
            value = str(value)
        out[name] = value
    return out


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path}: a cohort table is .parquet or .csv, not {path.suffix or 'no extension'!r}")
    return suffix


def write_table(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write the cohort table atomically (a temporary name, then renamed).

    Parameters
    ----------
    rows
        Mappings with (some of) the :data:`COLUMNS`; missing values are written empty.
    path
        ``*.parquet`` (needs pyarrow, in ``pip install "hbiview[cohort]"``) or ``*.csv``.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    target = Path(path)
    suffix = _suffix(target)
    clean = [_clean(row) for row in rows]
    with atomic_path(target, force=True) as tmp:
        if suffix == ".csv":
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
                writer.writeheader()
                for row in clean:
                    writer.writerow({k: "" if v is None else v for k, v in row.items()})
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            types = {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}
            schema = pa.schema([(name, types[kind]) for name, (kind, _) in COLUMNS.items()])
            table = pa.Table.from_pylist(clean, schema=schema)
            pq.write_table(table, tmp)
    return target


def read_table(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a cohort table written by :func:`write_table` (or by hand, with the same column names).

    Raises
    ------
    MissingInputError
        If the file does not exist.
    InputError
        If it is not a cohort table (wrong type, unreadable, or without the patient/plan/status columns).
    """
    source = Path(path)
    suffix = _suffix(source)
    if not source.is_file():
        raise MissingInputError(f"{source}: no such file")
    try:
        if suffix == ".csv":
            with open(source, newline="", encoding="utf-8") as handle:
                raw: Sequence[Mapping[str, Any]] = list(csv.DictReader(handle))
        else:
            import pyarrow.parquet as pq

            raw = pq.read_table(source).to_pylist()
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{source}: not a readable cohort table ({exc})") from exc
    if raw and not {"patient", "plan", "status"} <= set(raw[0]):
        raise InputError(f"{source}: not a cohort table (no 'patient', 'plan' and 'status' columns)")
    rows = []
    for item in raw:
        row: dict[str, Any] = {}
        for name, (kind, _) in COLUMNS.items():
            value = item.get(name)
            if isinstance(value, str) and suffix == ".csv":
                value = None if value == "" else _PARSERS[kind](value)
            row[name] = value
        rows.append(_clean(row))
    return rows
