"""DVH plots with matplotlib (object-oriented API, Agg canvas: no display, no pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from hbiview.radiobiology import clinical_references
from hbiview.report.evaluate import PlanResult

__all__ = [
    "comparison_figure",
    "draw_comparison",
    "draw_dvh",
    "dvh_figure",
    "figure_png",
    "shared_structures",
    "text_overlaps",
]

#: Line colours for plans in comparison plots (matplotlib's tab10, colour-blind friendlier than rainbow).
PLAN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
PLAN_STYLES = ("-", "--", "-.", ":")


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Any, dpi: int = 150) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _line_colour(rgb: Sequence[int]) -> tuple[float, float, float]:
    """Structure colour, darkened when too light to read on white paper."""
    c = np.asarray(rgb, float) / 255.0
    luminance = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    if luminance > 0.7:
        c = c * (0.55 / luminance)
    return (float(c[0]), float(c[1]), float(c[2]))


def _reference_lines(ax: Any, result: PlanResult) -> None:
    """Van Dyk's single-fraction pneumonitis doses, when the plan is single-fraction and has lungs."""
    if result.mean_lung_dose_gy is None or result.fractions != 1:
        return
    ref = clinical_references()["pneumonitis_single_fraction"]
    onset = float(ref["onset_corrected_lung_dose_gy"])
    five = float(ref["incidence_5_percent_gy"])
    for dose, text, colour, side in (
        (onset, f"pneumonitis onset {onset:g} Gy", "#e6a000", "right"),
        (five, f"5 % pneumonitis {five:g} Gy", "#c00000", "left"),
    ):
        ax.axvline(dose, color=colour, lw=1.0, ls=":", zorder=1)
        ax.annotate(
            text,
            (dose, 98),
            xytext=(-2 if side == "right" else 2, 0),
            textcoords="offset points",
            rotation=90,
            va="top",
            ha=side,
            fontsize=6.5,
            color=colour,
        )
    mld = result.mean_lung_dose_gy
    ax.plot([mld], [0], marker="^", ms=8, color="#1f4e79", clip_on=False, zorder=5)
    label = ax.annotate(
        f"MLD {mld:.2f} Gy",
        (mld, 0),
        xytext=(0, 9),
        textcoords="offset points",
        ha="center",
        fontsize=7,
        color="#1f4e79",
    )
    label.set_gid(_MOVABLE)


#: gid of labels that :func:`_separate_labels` may move (the mean-lung-dose label beside its marker)
_MOVABLE = "movable-label"
#: where a movable label may go: offset (points) from its anchor and horizontal alignment, in order
_PLACES = (((0, 9), "center"), ((6, 9), "left"), ((-6, 9), "right"), ((6, 30), "left"), ((-6, 30), "right"))


def text_overlaps(fig: Any) -> list[tuple[str, str]]:
    """Pairs of visible texts of ``fig`` whose boxes overlap (the figure is drawn first)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [
        (t.get_text(), t.get_window_extent(renderer))
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.figure is not None
    ]
    return [
        (a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1 :] if box_a.overlaps(box_b)
    ]


def _separate_labels(ax: Any) -> None:
    """Move each movable label of ``ax`` to the first of :data:`_PLACES` where it covers no other text.

    The mean lung dose is often within a few tenths of a gray of the prescription: its label above the
    marker then ran into the prescription line's label ("Rx 6 Gy" over "MLD 6.30 Gy").
    """
    from matplotlib.text import Text

    fig = ax.figure
    if fig.canvas is None or not hasattr(fig.canvas, "get_renderer"):
        return
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in ax.findobj(Text) if t.get_visible() and t.get_text().strip()]
    for label in [t for t in texts if t.get_gid() == _MOVABLE]:
        others = [t.get_window_extent(renderer) for t in texts if t is not label]
        for offset, align in _PLACES:
            label.set_position(offset)
            label.set_horizontalalignment(align)
            if not any(label.get_window_extent(renderer).overlaps(box) for box in others):
                break


def _style_axes(ax: Any, x_max: float, title: str, xlabel: str = "dose (Gy)", marrow: bool = False) -> None:
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, 100)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("volume (%)  /  active marrow (%)" if marrow else "volume (%)", fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(True, color="#dddddd", lw=0.6)
    ax.tick_params(labelsize=8)


def draw_dvh(ax: Any, result: PlanResult, legend: bool = True) -> None:
    """Draw a plan's cumulative DVHs on ``ax``: structures solid, active-marrow curves dashed, references."""
    top = 0.0
    for name, h in result.dvhs.items():
        if h.is_empty:
            continue
        colour = _line_colour(h.color)
        ax.plot(h.dose_gy, h.volume_pct, color=colour, lw=1.6, label=name)
        if h.weighted_fraction is not None and h.marrow_share:
            ax.plot(
                h.dose_gy,
                100 * h.weighted_fraction / h.marrow_share,
                color=colour,
                lw=1.4,
                ls="--",
                label=f"{name}: active marrow",
            )
        top = max(top, h.max_gy)
    if result.prescription_gy:
        ax.axvline(result.prescription_gy, color="#555555", lw=0.9, ls="--", zorder=1)
        ax.annotate(
            f"Rx {result.prescription_gy:g} Gy",
            (result.prescription_gy, 3),
            xytext=(-2, 0),
            textcoords="offset points",
            rotation=90,
            va="bottom",
            ha="right",
            fontsize=6.5,
            color="#555555",
        )
    _reference_lines(ax, result)
    x_max = max(top, result.prescription_gy or 0.0, 8.6 if result.mean_lung_dose_gy is not None else 0.0)
    fx = "1 fraction" if result.fractions == 1 else f"{result.fractions} fractions"
    marrow = any(h.weighted_fraction is not None for h in result.dvhs.values())
    _style_axes(
        ax,
        x_max * 1.05 if x_max > 0 else 1.0,
        f"{result.label}: cumulative DVH",
        f"dose (Gy), total of {fx}",
        marrow,
    )
    if legend:
        _side_legend(ax)
    _separate_labels(ax)


#: At most this many legend entries per column beside a DVH plot (about the plot's height at 7 pt).
LEGEND_ROWS = 22
#: and at most this many columns; further curves are counted in the last entry (the tables list them all).
LEGEND_COLUMNS = 3


def _side_legend(ax: Any) -> None:
    """The legend beside the plot, in columns of :data:`LEGEND_ROWS`.

    A planning system's structure set (dozens of structures) must neither overflow the figure nor squeeze
    the plot to nothing.
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    room = LEGEND_ROWS * LEGEND_COLUMNS
    if len(handles) > room:
        left = len(handles) - (room - 1)
        handles = [*handles[: room - 1], ax.plot([], [], color="none")[0]]
        labels = [*labels[: room - 1], f"... {left} more (see the tables)"]
    columns = -(-len(handles) // LEGEND_ROWS)
    ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7 if columns == 1 else 6,
        ncols=columns,
        frameon=False,
        columnspacing=0.8,
        handlelength=1.6,
    )


def dvh_figure(result: PlanResult, width_in: float = 7.2, height_in: float = 4.4) -> Any:
    """Cumulative DVHs of one plan as a figure (see :func:`draw_dvh`)."""
    fig = _figure(width_in, height_in)
    draw_dvh(fig.add_subplot(1, 1, 1), result)
    return fig


def shared_structures(results: Sequence[PlanResult]) -> list[str]:
    """Structure names present in at least two plans (order of first appearance)."""
    names: list[str] = []
    for result in results:
        for name in result.dvhs:
            if name not in names and sum(name in r.dvhs for r in results) >= 2:
                names.append(name)
    return names


def draw_comparison(axes: Sequence[Any], results: Sequence[PlanResult], names: Sequence[str]) -> None:
    """Overlaid DVHs of several plans, one structure per axes."""
    for ax, name in zip(axes, names):
        top = 0.0
        for p, result in enumerate(results):
            h = result.dvhs.get(name)
            if h is None or h.is_empty:
                continue
            colour = PLAN_COLOURS[p % len(PLAN_COLOURS)]
            ax.plot(
                h.dose_gy,
                h.volume_pct,
                color=colour,
                lw=1.5,
                ls=PLAN_STYLES[(p // 8) % 4],
                label=result.label,
            )
            if h.weighted_fraction is not None and h.marrow_share:
                ax.plot(h.dose_gy, 100 * h.weighted_fraction / h.marrow_share, color=colour, lw=1.0, ls=":")
            top = max(top, h.max_gy)
        single_lung = all(r.fractions == 1 for r in results) and any(
            r.kinds.get(name) == "lung" for r in results
        )
        if single_lung:
            ref = clinical_references()["pneumonitis_single_fraction"]
            for dose, colour in (
                (ref["onset_corrected_lung_dose_gy"], "#e6a000"),
                (ref["incidence_5_percent_gy"], "#c00000"),
            ):
                ax.axvline(float(dose), color=colour, lw=0.9, ls=":")
            top = max(top, 8.6)
        ax.set_xlim(0, top * 1.05 if top > 0 else 1.0)
        ax.set_ylim(0, 100)
        ax.set_title(name, fontsize=9, loc="left")
        ax.grid(True, color="#dddddd", lw=0.6)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("dose (Gy)", fontsize=8)
        ax.set_ylabel("volume (%)", fontsize=8)


#: Comparison panels per row and panel height (inches) by number of structures: (at most n, columns, height).
COMPARISON_LAYOUT = ((1, 1, 2.9), (6, 2, 2.9), (15, 3, 2.4), (10**9, 4, 2.0))


def comparison_figure(results: Sequence[PlanResult], names: Sequence[str], width_in: float = 7.2) -> Any:
    """Overlaid DVHs of several plans, one panel per structure."""
    names = list(names)
    # small multiples: more structures, more and smaller panels per row (a planning system's structure set
    # of 30 stays under 20 inches tall)
    cols, panel_in = next((c, h) for n, c, h in COMPARISON_LAYOUT if len(names) <= n)
    rows = (len(names) + cols - 1) // cols
    fig = _figure(width_in, panel_in * rows + 0.5)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(len(names))]
    draw_comparison(axes, results, names)
    if axes:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(
            handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=8, frameon=False
        )
    return fig
