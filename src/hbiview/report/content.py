"""What a report says, independent of its format: summary lines, display tables, differences, limits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hbiview.report.evaluate import PlanResult

__all__ = [
    "DISPLAY_COLUMNS",
    "MARROW_COLUMNS",
    "difference_table",
    "display_table",
    "limits",
    "marrow_table",
    "summary_lines",
]

#: (metric key, heading, format) of the per-plan metric table.
DISPLAY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("structure", "Structure", "{}"),
    ("volume_cc", "Volume\n(cm³)", "volume"),
    ("mean_gy", "Dmean\n(Gy)", "{:.2f}"),
    ("min_gy", "Dmin\n(Gy)", "{:.2f}"),
    ("max_gy", "Dmax\n(Gy)", "{:.2f}"),
    ("d0p03cc_gy", "D0.03cc\n(Gy)", "{:.2f}"),
    ("d2_pct_gy", "D2%\n(Gy)", "{:.2f}"),
    ("d50_pct_gy", "D50%\n(Gy)", "{:.2f}"),
    ("d98_pct_gy", "D98%\n(Gy)", "{:.2f}"),
    ("v5gy_pct", "V5Gy\n(%)", "{:.1f}"),
    ("mean_eqd2_gy", "mean EQD2\n(Gy)", "{:.2f}"),
)

#: (metric key, heading, format) of the active-marrow table (weighted structures only).
MARROW_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("structure", "Structure", "{}"),
    ("marrow_share_in_structure", "share of the body's\nactive marrow", "{:.1%}"),
    ("weighted_mean_gy", "marrow-weighted\nmean (Gy)", "{:.2f}"),
    ("marrow_fraction_ge_1gy", "active marrow\n≥ 1 Gy", "{:.1%}"),
    ("marrow_fraction_ge_2gy", "≥ 2 Gy", "{:.1%}"),
    ("marrow_fraction_ge_5gy", "≥ 5 Gy", "{:.1%}"),
    ("marrow_fraction_in_field", "in the field\n(≥ 50 % of Rx)", "{:.1%}"),
)

#: Metrics compared between plans: (key, label, format of values, format of differences).
DIFFERENCE_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("mean_gy", "Dmean (Gy)", "{:.2f}", "{:+.2f}"),
    ("d2_pct_gy", "D2% (Gy)", "{:.2f}", "{:+.2f}"),
    ("d98_pct_gy", "D98% (Gy)", "{:.2f}", "{:+.2f}"),
    ("v5gy_pct", "V5Gy (%)", "{:.1f}", "{:+.1f}"),
    ("mean_eqd2_gy", "mean EQD2 (Gy)", "{:.2f}", "{:+.2f}"),
    ("weighted_mean_gy", "marrow-weighted mean (Gy)", "{:.2f}", "{:+.2f}"),
    ("marrow_fraction_ge_2gy", "active marrow ≥ 2 Gy", "{:.1%}", "{:+.1%}"),
    ("marrow_fraction_in_field", "active marrow in the field", "{:.1%}", "{:+.1%}"),
)


def _fmt(value: Any, fmt: str) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if fmt == "volume":
        fmt = "{:.1f}" if abs(value) >= 100 else "{:.2f}" if abs(value) >= 1 else "{:.3f}"
    try:
        text = fmt.format(value)
        if text.lstrip("+-").strip("0.%") == "":  # "-0.00", "+0.0" -> "0.00", "0.0"
            text = text.lstrip("+-")
        return text
    except (ValueError, TypeError):
        return str(value)


def summary_lines(result: PlanResult) -> list[tuple[str, str]]:
    """(heading, text) pairs describing a plan: dose, fractions, prescription, beams, heterogeneity..."""
    s = dict(result.summary)
    lines: list[tuple[str, str]] = []
    if s.get("description"):
        lines.append(("Plan", str(s.pop("description"))))
    else:
        s.pop("description", None)
    rx = s.pop("prescription_gy", None)
    fx = result.fractions
    if rx is not None:
        lines.append(
            (
                "Prescription",
                f"{float(rx):g} Gy in {fx} fraction{'s' if fx != 1 else ''} "
                f"({float(rx) / fx:.3g} Gy per fraction)",
            )
        )
    else:
        lines.append(("Fractions", str(fx)))
    hetero = s.pop("heterogeneity_corrected", None)
    if hetero is not None:
        lines.append(
            ("Heterogeneity", "lung/density corrected" if hetero else "not corrected (water everywhere)")
        )
    beams = s.pop("beams", None)
    if beams:
        if isinstance(beams, (list, tuple)):
            texts = []
            for beam in beams:
                if isinstance(beam, dict):
                    texts.append(", ".join(f"{k} {v}" for k, v in beam.items()))
                else:
                    texts.append(str(beam))
            lines.append(("Beams", "; ".join(texts)))
        else:
            lines.append(("Beams", str(beams)))
    for key in ("geometry", "engine", "dose_source"):
        if s.get(key):
            lines.append((key.replace("_", " ").capitalize(), str(s.pop(key))))
    for key, value in s.items():
        label = str(key).replace("_", " ")
        lines.append((label[:1].upper() + label[1:], str(value)))
    if result.grid:
        lines.append(("Dose grid", result.grid))
    lines.append(("Maximum dose", f"{result.max_dose_gy:.2f} Gy"))
    if result.mean_lung_dose_gy is not None:
        lines.append(("Mean lung dose", f"{result.mean_lung_dose_gy:.2f} Gy"))
    return lines


def display_table(result: PlanResult) -> tuple[list[str], list[list[str]]]:
    """Headings and formatted rows of a plan's metric table."""
    columns = [c for c in DISPLAY_COLUMNS if any(c[0] in row for row in result.metrics)]
    rows = [[_fmt(row.get(key), fmt) for key, _, fmt in columns] for row in result.metrics]
    return [heading for _, heading, _ in columns], rows


def marrow_table(result: PlanResult) -> tuple[list[str], list[list[str]]] | None:
    """Headings and rows of the active-marrow table, or ``None`` without weighted structures."""
    rows = [row for row in result.metrics if "marrow_share_in_structure" in row]
    if not rows:
        return None
    columns = [c for c in MARROW_COLUMNS if any(c[0] in row for row in rows)]
    return [h for _, h, _ in columns], [[_fmt(r.get(k), f) for k, _, f in columns] for r in rows]


def difference_table(results: Sequence[PlanResult]) -> tuple[list[str], list[list[str]]]:
    """Metric values of each plan and their difference from the first plan, per shared structure."""
    base = results[0]
    headings = ["Structure", "Metric", *[r.label for r in results], *[f"Δ {r.label}" for r in results[1:]]]
    rows: list[list[str]] = []
    mld = [r.mean_lung_dose_gy for r in results if r.mean_lung_dose_gy is not None]
    if len(mld) == len(results):
        rows.append(
            [
                "Lungs",
                "mean lung dose (Gy)",
                *[f"{v:.2f}" for v in mld],
                *[f"{v - mld[0]:+.2f}" for v in mld[1:]],
            ]
        )
    by_plan = [{row["structure"]: row for row in r.metrics} for r in results]
    names = [n for n in base.dvhs if all(n in p for p in by_plan[1:])]
    for name in names:
        for key, label, fmt, dfmt in DIFFERENCE_METRICS:
            values = [p[name][key] for p in by_plan if p[name].get(key) is not None]
            if len(values) < len(by_plan):
                continue
            diffs = [_fmt(v - values[0], dfmt) for v in values[1:]]
            rows.append([name, label, *[_fmt(v, fmt) for v in values], *diffs])
    return headings, rows


#: how contour planes became volumes, in the words of the limits section, by ``end_caps`` mode
_END_CAPS_TEXT = {
    "full": "their first and last plane a full plane of thickness (as voxel-based tools do); some planning "
    "systems interpolate between planes, which changes the volumes of small structures by several per cent.",
    "half": "their first and last plane half a plane of thickness.",
    "interpolated": "a shape interpolated from one contour plane to the next, reaching a tenth of a plane "
    "spacing past the end contours (the convention that reproduced Varian Eclipse's DVHs).",
}


def limits(results: Sequence[PlanResult], end_caps: str = "full") -> list[str]:
    """The model's limits, stated plainly, for the end of every report."""
    out = [
        "hbiview is a tool for comparison and teaching, not a clinical treatment planning system: "
        "do not base treatment decisions on this report.",
    ]
    sources = {str(r.summary.get("dose_source", "")) for r in results} - {""}
    if sources:
        out.append("Dose source: " + "; ".join(sorted(sources)) + ".")
    out.append(
        "Doses computed by hbiview come from a simplified convolution model (fluence, radiological depth, "
        "pencil kernel); expect differences of several per cent from a clinical algorithm, largest in and "
        "beyond lung and at field edges. Doses read from an RT Dose file are used as exported."
    )
    out.append(
        "DVHs sample the dose at voxel centres with trilinear interpolation; structures of fewer than about "
        "20 000 voxels are supersampled (and contoured structures re-rasterised). Contoured structures give "
        + _END_CAPS_TEXT.get(end_caps, _END_CAPS_TEXT["full"])
    )
    out.append(
        "Pneumonitis reference doses (onset 7.5 Gy, 5 % incidence 8.2 Gy; Van Dyk et al., IJROBP 1981) are "
        "population figures for single-fraction, lung-corrected doses; they are not shown for fractionated "
        "plans and are not a prediction for one patient."
    )
    out.append(
        "Active-marrow fractions use a reference adult distribution of active marrow by skeletal site "
        "(ICRP 89), spread evenly within each site: not this patient's marrow. A share below 100 % means "
        "sites lie outside the scan."
    )
    out.append(
        "BED and EQD2 use the linear-quadratic model with generic alpha/beta (lung 3 Gy, marrow 10 Gy unless "
        "changed); the model is uncertain for large single doses."
    )
    return out
