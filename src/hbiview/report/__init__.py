"""Reports of DVHs and metrics: CSV, JSON, curves CSV, self-contained HTML and PDF (reportlab).

matplotlib is imported only when a figure is drawn (HTML and PDF). The column and key names of the CSV
and JSON outputs are documented in :mod:`hbiview.report.tables`; the plan inputs in
:mod:`hbiview.report.evaluate`.

Examples
--------
>>> from hbiview.report import write_report                                   # doctest: +SKIP
>>> write_report("report.pdf", [("upper HBI", dose, structures, {"prescription_gy": 6})])  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from hbiview.errors import OutputError
from hbiview.io.atomic import check_writable
from hbiview.report.evaluate import PlanResult, evaluate_plans, metric_rows, plan_summary
from hbiview.report.tables import results_document, write_curves_csv, write_metrics_csv, write_metrics_json

__all__ = [
    "REPORT_FORMATS",
    "PlanResult",
    "evaluate_plans",
    "metric_rows",
    "plan_summary",
    "results_document",
    "write_curves_csv",
    "write_metrics_csv",
    "write_metrics_json",
    "write_report",
]

#: File suffix -> what :func:`write_report` writes.
REPORT_FORMATS = {
    ".html": "self-contained HTML report",
    ".htm": "self-contained HTML report",
    ".pdf": "PDF report (A4)",
    ".csv": "metrics table (CSV)",
    ".json": "metrics (JSON)",
}


def write_report(
    path: str | os.PathLike[str],
    plans: Sequence[Sequence[Any]] | Sequence[PlanResult],
    *,
    title: str = "hbiview dose report",
    images: Sequence[tuple[str, bytes | str | os.PathLike[str]]] = (),
    alpha_beta_gy: Mapping[str, float] | None = None,
    kinds: Mapping[str, str] | None = None,
    supersample: int | str = "auto",
    end_caps: str = "full",
    force: bool = False,
) -> Path:
    """Write a report; the format follows the suffix of ``path`` (see :data:`REPORT_FORMATS`).

    Parameters
    ----------
    path
        ``report.html``, ``report.pdf``, ``metrics.csv`` or ``metrics.json``.
    plans
        Plan inputs ``(label, DoseGrid, structures[, summary])`` (see :mod:`hbiview.report.evaluate`), or
        results of :func:`evaluate_plans`.
    title
        Report title.
    images
        Extra images ``(caption, PNG path or bytes)``, e.g. slice views and 3D renders (HTML and PDF).
    alpha_beta_gy, kinds, supersample, end_caps
        See :func:`evaluate_plans`.
    force
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise OutputError(
            f"{target}: unknown report format {suffix or '(none)'}; use one of "
            + ", ".join(sorted(REPORT_FORMATS))
        )
    check_writable(target, force)
    results: list[PlanResult]
    if plans and all(isinstance(p, PlanResult) for p in plans):
        results = [p for p in plans if isinstance(p, PlanResult)]  # all of them
    else:
        # plan inputs (label, dose, structures[, summary]); anything else fails in _unpack with an InputError
        results = evaluate_plans(
            cast("Sequence[Sequence[Any]]", plans),
            alpha_beta_gy=alpha_beta_gy,
            kinds=kinds,
            supersample=supersample,
            end_caps=end_caps,
        )
    if suffix == ".csv":
        return write_metrics_csv(target, results, force=force)
    if suffix == ".json":
        return write_metrics_json(target, results, force=force)
    if suffix == ".pdf":
        from hbiview.report.pdf import write_pdf

        return write_pdf(target, results, title=title, images=images, end_caps=end_caps, force=force)
    from hbiview.report.html import write_html

    return write_html(target, results, title=title, images=images, end_caps=end_caps, force=force)
