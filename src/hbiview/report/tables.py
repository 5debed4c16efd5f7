"""Metric tables (CSV, JSON) and DVH curves (CSV), written atomically.

Metric columns / keys (one row per plan and structure; the same names in CSV and JSON):

============================== ===================================================================
column                         meaning (unit)
============================== ===================================================================
plan                           plan label
structure                      structure name
kind                           ``lung``, ``marrow`` or empty
volume_cc                      structure volume inside the dose grid (cm3)
volume_outside_dose_cc         structure volume outside the dose grid, not in the DVH (cm3)
fractions                      number of fractions
mean_gy                        mean dose, total course (Gy)
mean_gy_per_fraction           mean dose per fraction (Gy)
min_gy, max_gy                 minimum / maximum dose (Gy)
d0p03cc_gy                     D0.03cc, minimum dose to the hottest 0.03 cm3 (Gy)
d2_pct_gy ... d98_pct_gy       D2 %, D50 %, D95 %, D98 % (Gy)
v{x}gy_cc, v{x}gy_pct          volume receiving >= x Gy (cm3, % of structure); x = 2, 5, 10, 20
prescription_gy                prescription (Gy), when the plan summary gives one
v{x}pct_rx_pct                 volume receiving >= x % of the prescription (%); x = 95, 100, 107
alpha_beta_gy                  alpha/beta used (Gy): lung 3, marrow 10 unless changed
mean_eqd2_gy, mean_bed_gy      mean of the per-voxel EQD2 / BED (Gy)
marrow_share_in_structure      share of the body's active marrow in the structure (0-1)
weighted_mean_gy               active-marrow-weighted mean dose (Gy)
marrow_fraction_ge_{x}gy       fraction of the body's active marrow receiving >= x Gy; x = 1, 2, 5
marrow_fraction_in_field       fraction of the body's active marrow receiving >= 50 % of the prescription
supersample                    sub-voxels per voxel edge used for the DVH
============================== ===================================================================

A decimal point in ``x`` is written ``p`` (``v7p5gy_cc``). Columns a plan does not have (no
prescription, no weights) are empty in CSV and absent in JSON. The JSON document is
``{"hbiview_version", "plans": [{"label", "fractions", "summary", "mean_lung_dose_gy",
"lung_assessment", "structures": [metric dicts]}]}``.

Curves CSV columns: ``plan`` (only with several plans), ``structure``, ``dose_gy`` (bin edge, Gy),
``volume_cc`` and ``volume_pct`` (cumulative: receiving at least ``dose_gy``), ``weighted_fraction``
(fraction of the body's active marrow receiving at least ``dose_gy``; empty for unweighted structures)
when any structure is weighted, then ``dose_pct_rx`` (``dose_gy`` in % of the prescription; empty when
the plan has none), ``differential_cc`` and ``differential_pct`` (volume receiving a dose in
``[dose_gy, dose_gy + bin width)``, cm3 and % of the structure) and ``differential_cc_per_gy`` (the
differential DVH, cm3 per Gy).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from hbiview import __version__
from hbiview.dosevolume import DVH
from hbiview.io.atomic import atomic_path
from hbiview.report.evaluate import PlanResult, metric_rows

__all__ = ["write_curves_csv", "write_metrics_csv", "write_metrics_json"]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_value(value.item())
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_metrics_csv(
    path: str | os.PathLike[str], results: Sequence[PlanResult], *, force: bool = False
) -> Path:
    """Write every metric of every plan and structure as CSV (columns in the module docstring)."""
    columns, rows = metric_rows(results)
    with atomic_path(path, force=force) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_csv_value(row.get(c)) for c in columns])
    return Path(path)


def results_document(results: Sequence[PlanResult]) -> dict[str, Any]:
    """The JSON document of :func:`write_metrics_json` as a Python dict."""
    plans = []
    for result in results:
        plans.append(
            {
                "label": result.label,
                "fractions": result.fractions,
                "summary": _json_value(dict(result.summary)),
                "max_dose_gy": _json_value(result.max_dose_gy),
                "mean_lung_dose_gy": _json_value(result.mean_lung_dose_gy),
                "lung_assessment": _json_value(asdict(result.lung_assessment))
                if result.lung_assessment
                else None,
                "structures": [
                    {k: _json_value(v) for k, v in row.items() if k != "plan"} for row in result.metrics
                ],
            }
        )
    return {"hbiview_version": __version__, "plans": plans}


def write_metrics_json(
    path: str | os.PathLike[str], results: Sequence[PlanResult], *, force: bool = False
) -> Path:
    """Write every metric of every plan and structure as JSON (layout in the module docstring)."""
    document = results_document(results)
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return Path(path)


def write_curves_csv(
    path: str | os.PathLike[str],
    curves: Mapping[str, DVH] | Sequence[PlanResult],
    *,
    force: bool = False,
    prescription_gy: float | None = None,
) -> Path:
    """Write DVH curves as CSV, cumulative and differential, in Gy and in % of the prescription.

    Parameters
    ----------
    path
        Output file.
    curves
        ``{structure name: DVH}`` of one plan, or plan results (then a leading ``plan`` column is added
        when there are several plans; each plan's prescription comes from its summary).
    force
        Replace an existing file.
    prescription_gy
        Prescription (total Gy) of ``{structure: DVH}`` curves, for the ``dose_pct_rx`` column.

    Notes
    -----
    Columns (the module docstring): one row per bin edge ``dose_gy``; the differential columns give the
    volume in the bin that starts there (``[dose_gy, dose_gy + bin width)``; 0 on the last edge).
    """
    if isinstance(curves, Mapping):
        sets: list[tuple[str | None, Mapping[str, DVH], float | None]] = [(None, curves, prescription_gy)]
    else:
        sets = [(r.label, r.dvhs, r.prescription_gy) for r in curves]
    with_plan = len(sets) > 1
    weighted = any(h.weighted_fraction is not None for _, d, _ in sets for h in d.values())
    header = (["plan"] if with_plan else []) + ["structure", "dose_gy", "volume_cc", "volume_pct"]
    if weighted:
        header.append("weighted_fraction")
    header += ["dose_pct_rx", "differential_cc", "differential_pct", "differential_cc_per_gy"]
    with atomic_path(path, force=force) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for label, dvhs, rx in sets:
                for name, h in dvhs.items():
                    pct = h.volume_pct
                    differential = np.append(h.differential_cc, 0.0) + 0.0  # no "-0"
                    total = h.total_volume_cc
                    width = h.bin_width_gy
                    for i in range(h.dose_gy.size):
                        row = ([label] if with_plan else []) + [
                            name,
                            f"{h.dose_gy[i]:.4f}",
                            f"{h.volume_cc[i]:.6g}",
                            f"{pct[i]:.6g}",
                        ]
                        if weighted:
                            row.append("" if h.weighted_fraction is None else f"{h.weighted_fraction[i]:.6g}")
                        row += [
                            "" if not rx else f"{100.0 * h.dose_gy[i] / rx:.4f}",
                            f"{differential[i]:.6g}",
                            f"{100.0 * differential[i] / total:.6g}" if total > 0 else "0",
                            f"{differential[i] / width:.6g}" if width > 0 else "0",
                        ]
                        writer.writerow(row)
    return Path(path)
