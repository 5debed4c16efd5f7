"""The cohort report: distributions by plan (box plots), scatter against separation and stature, failures.

One self-contained HTML file (inline CSS, figures embedded as PNG), like the plan reports, made from the
cohort table that ``hbiview batch`` writes.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hbiview import __version__
from hbiview.errors import InputError
from hbiview.io.atomic import atomic_path

__all__ = ["SUMMARY_COLUMNS", "render_cohort_html", "write_cohort_report"]

#: Column -> (heading, scale): the figures of the summary table and box plots, scaled for display.
SUMMARY_COLUMNS: dict[str, tuple[str, float]] = {
    "mean_lung_dose_gy": ("mean lung dose (Gy)", 1.0),
    "lung_v5_pct": ("lung V5 Gy (%)", 1.0),
    "lung_v8_pct": ("lung V8 Gy (%)", 1.0),
    "marrow_in_field": ("active marrow in the field (%)", 100.0),
    "marrow_above_half_rx": ("active marrow >= 50 % Rx (%)", 100.0),
    "body_max_gy": ("body maximum (Gy)", 1.0),
    "separation_mm": ("separation (mm)", 1.0),
}


def _values(rows: Sequence[Mapping[str, Any]], plan: str, column: str) -> np.ndarray:
    scale = SUMMARY_COLUMNS[column][1] if column in SUMMARY_COLUMNS else 1.0
    values = [
        float(r[column]) * scale
        for r in rows
        if r["plan"] == plan and r.get("status") == "ok" and r.get(column) is not None
    ]
    return np.asarray(values, dtype=float)


def _describe(values: np.ndarray) -> str:
    """``median (IQR q1-q3; range lo-hi)``, or a dash without values."""
    if values.size == 0:
        return "–"
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    digits = 1 if np.nanmax(np.abs(values)) < 1000 else 0
    f = f"{{:.{digits}f}}"
    return (
        f"{f.format(med)} ({f.format(q1)}–{f.format(q3)}; {f.format(values.min())}–{f.format(values.max())})"
    )


def _summary_table(
    rows: Sequence[Mapping[str, Any]], plans: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    headings = ["figure", *plans]
    body = [["patients ok / failed"]]
    for plan in plans:
        ok = sum(1 for r in rows if r["plan"] == plan and r.get("status") == "ok")
        failed = sum(1 for r in rows if r["plan"] == plan and r.get("status") != "ok")
        body[0].append(f"{ok} / {failed}")
    for column, (heading, _) in SUMMARY_COLUMNS.items():
        body.append([heading, *(_describe(_values(rows, plan, column)) for plan in plans)])
    return headings, body


def _box_figure(rows: Sequence[Mapping[str, Any]], plans: Sequence[str]) -> Any:
    from hbiview.report.figures import PLAN_COLOURS, _figure

    columns = ["mean_lung_dose_gy", "lung_v5_pct", "marrow_in_field", "body_max_gy"]
    fig = _figure(10.0, 6.6)
    rng = np.random.default_rng(0)  # jitter of the points only, reproducible pictures
    for k, column in enumerate(columns):
        ax = fig.add_subplot(2, 2, k + 1)
        data = [_values(rows, plan, column) for plan in plans]
        positions = np.arange(1, len(plans) + 1)
        shown = [(p, d) for p, d in zip(positions, data) if d.size]
        if shown:
            ax.boxplot(
                [d for _, d in shown],
                positions=[p for p, _ in shown],
                widths=0.5,
                showfliers=False,
                medianprops={"color": "black"},
            )
        for i, (p, d) in enumerate(zip(positions, data)):
            ax.scatter(
                p + rng.uniform(-0.12, 0.12, d.size), d, s=14, alpha=0.7, color=PLAN_COLOURS[i % 8], zorder=3
            )
        ax.set_xticks(positions, plans)
        ax.set_title(SUMMARY_COLUMNS[column][0], fontsize=11)
        ax.grid(axis="y", alpha=0.3)
    return fig


def _scatter_figure(rows: Sequence[Mapping[str, Any]], plans: Sequence[str]) -> Any:
    from hbiview.report.figures import PLAN_COLOURS, _figure

    pairs = [
        ("separation_mm", "mean_lung_dose_gy", "separation on the central axis (mm)"),
        ("stature_mm", "marrow_in_field", "stature, vertex to soles (mm)"),
    ]
    fig = _figure(10.0, 4.0)
    for k, (x_column, y_column, x_label) in enumerate(pairs):
        ax = fig.add_subplot(1, 2, k + 1)
        for i, plan in enumerate(plans):
            pts = [
                (float(r[x_column]), float(r[y_column]) * SUMMARY_COLUMNS[y_column][1])
                for r in rows
                if r["plan"] == plan
                and r.get("status") == "ok"
                and r.get(x_column) is not None
                and r.get(y_column) is not None
            ]
            if pts:
                x, y = np.asarray(pts).T
                ax.scatter(x, y, s=18, color=PLAN_COLOURS[i % 8], label=plan, alpha=0.8)
        ax.set_xlabel(x_label)
        ax.set_ylabel(SUMMARY_COLUMNS[y_column][0])
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=9, frameon=False)
        else:
            ax.text(0.5, 0.5, "no patient has both values", ha="center", va="center", transform=ax.transAxes)
    return fig


def render_cohort_html(rows: Sequence[Mapping[str, Any]], *, title: str = "hbiview cohort report") -> str:
    """The cohort report as one HTML string.

    Parameters
    ----------
    rows
        The cohort table (:func:`hbiview.cohort.read_table`).
    title
        Heading of the page.
    """
    from hbiview.report.figures import figure_png
    from hbiview.report.html import CSS, _png_tag, _table

    plans = list(dict.fromkeys(str(r["plan"]) for r in rows))
    patients = list(dict.fromkeys(str(r["patient"]) for r in rows))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">hbiview {__version__} · {now} · {len(patients)} patient(s) · '
        f"{len(plans)} plan(s): {html.escape(', '.join(plans))}</p>",
        '<p class="note">For comparison and teaching, not a clinical treatment planning system. Every '
        "number rests on each patient's automatic landmarks and structures: look at the outliers' CTs "
        "(hbiview info CT --landmarks, hbiview render) before drawing conclusions.</p>",
        "<h2>Summary by plan</h2>",
        "<p>Median (interquartile range; range) over the patients whose plan ran.</p>",
        _table(*_summary_table(rows, plans)),
    ]
    for fig, caption in (
        (_box_figure(rows, plans), "Distributions by plan; each point is a patient."),
        (
            _scatter_figure(rows, plans),
            "Mean lung dose against separation, and active marrow in the field against stature.",
        ),
    ):
        parts.append(
            f"<figure>{_png_tag(figure_png(fig), caption)}<figcaption>{caption}</figcaption></figure>"
        )
    failures = [r for r in rows if r.get("status") != "ok"]
    if failures:
        parts.append("<h2>Failures</h2>")
        parts.append(
            _table(
                ["patient", "plan", "error"],
                [[str(r["patient"]), str(r["plan"]), str(r["error"])] for r in failures],
            )
        )
    warned = [r for r in rows if r.get("warnings")]
    if warned:
        parts.append("<h2>Warnings</h2><p>What hbiview warned about, per patient and plan.</p>")
        parts.append(
            _table(
                ["patient", "plan", "warnings"],
                [[str(r["patient"]), str(r["plan"]), str(r["warnings"])] for r in warned],
            )
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_cohort_report(
    rows: Sequence[Mapping[str, Any]],
    out: str | os.PathLike[str],
    *,
    title: str = "hbiview cohort report",
    force: bool = False,
) -> Path:
    """Write the cohort report as self-contained HTML (atomically).

    Raises
    ------
    InputError
        If ``out`` is not ``.html`` or the table holds no row.
    """
    target = Path(out)
    if target.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{target}: a cohort report is written as .html")
    if not rows:
        raise InputError(f"{target}: the cohort table holds no row to report")
    text = render_cohort_html(rows, title=title)
    with atomic_path(target, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
