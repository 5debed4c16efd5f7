"""Slice views with matplotlib, in radiological orientation.

CT with a window, dose colourwash, labelled isodose lines, structure contours, field borders, a scale bar
and patient directions at the edges.

matplotlib is imported inside the functions (the Agg backend, no display needed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from hbiview.errors import InputError
from hbiview.geometry import bounding_box
from hbiview.render import beams as _beams
from hbiview.render.colors import (
    colourwash_rgb,
    difference_cmap,
    dose_cmap,
    dose_range_gy,
    shared_dose_scale,
)
from hbiview.render.planes import SlicePlane, make_plane, sample_on_plane
from hbiview.render.style import (
    DEFAULT_ISODOSE_PCT,
    LUNG_COLOR,
    PlanLike,
    check_levels,
    classify_structure,
    isodose_color,
    plan_title,
    prescription_total_gy,
    structures_by_role,
)
from hbiview.volume import CTVolume, DoseGrid, Structure

__all__ = ["SliceStyle", "render_compare_slices", "render_difference_slice", "render_slice"]

_BACKGROUND = "#101010"
_FOREGROUND = "white"
_FIELD_COLOR = "#f0f0f0"


@dataclass(frozen=True)
class SliceStyle:
    """How a slice view looks.

    Attributes
    ----------
    window
        CT window preset (``"soft"``, ``"lung"``, ``"bone"``) or ``(level, width)`` HU.
    isodose_pct
        Isodose lines, percent of the prescription.
    threshold_pct
        Doses below this percent of the prescription show plain CT (no colourwash).
    wash_alpha
        Opacity of the dose colourwash (0-1).
    crop_margin_mm
        The picture is cropped to the body (when a body structure is given) plus this margin; ``None``
        shows the whole CT.
    show_structures, show_fields, show_isodose_labels
        Draw structure contours, field borders, labels on the isodose lines.
    crop_to_fields
        On coronal and sagittal views of a plan, show only the fields' head-feet extent plus
        ``crop_margin_mm`` (a whole-body coronal slice is too thin to read).
    """

    window: str | tuple[float, float] = "soft"
    isodose_pct: tuple[float, ...] = DEFAULT_ISODOSE_PCT
    threshold_pct: float = 20.0
    wash_alpha: float = 0.45
    crop_margin_mm: float | None = 20.0
    show_structures: bool = True
    show_fields: bool = True
    show_isodose_labels: bool = True
    crop_to_fields: bool = True


def _panel_labels(labels: Sequence[str] | None, n: int) -> list[str | None]:
    """One panel title name per plan (``None``: the plan's own name); refuses a count other than ``n``."""
    if labels is None:
        return [None] * n
    names: list[str | None] = [str(label) for label in labels]
    if len(names) != n:
        raise InputError(f"{len(names)} labels for {n} plans: give one label per plan")
    return names


def _structure_list(structures: Iterable[Structure] | Mapping[str, Structure] | None) -> list[Structure]:
    if structures is None:
        return []
    items = list(structures.values() if isinstance(structures, Mapping) else structures)
    # a union "Lungs" beside the two sides would be outlined twice: keep the sides
    if len(structures_by_role(items)["lung"]) < sum(classify_structure(s.name) == "lung" for s in items):
        items = [s for s in items if s.name.strip().lower() not in ("lung", "lungs")]
    return items


def _figure(size: Sequence[int], font_scale: float = 1.0) -> tuple[Any, float]:
    """An empty figure of ``size`` px and its text scale (``font_scale`` times the automatic one)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    width, height = (int(v) for v in size)
    if width < 200 or height < 150:
        raise InputError(f"picture size {width} x {height} px is too small (at least 200 x 150)")
    dpi = 100.0
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=_BACKGROUND)
    if not 0.25 <= float(font_scale) <= 4.0:
        raise InputError(f"font_scale {font_scale:g}: choose a factor between 0.25 and 4")
    # text scales with the picture: 1.0 at 900 px wide
    scale = float(np.clip(min(width / 900.0, height / 700.0), 0.6, 2.5))
    return fig, scale * float(font_scale)


def _to_rgb(fig: Any) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _crop_box(
    plane: SlicePlane, body: Structure | None, margin_mm: float | None
) -> tuple[float, float, float, float] | None:
    """Plane limits (column min, column max, row min, row max) around the body on this plane."""
    if body is None or margin_mm is None:
        return None
    box = bounding_box(sample_on_plane(body.mask.astype(np.float32), body.geometry, plane, order=0) > 0.5)
    if box is None:
        return None
    rows, cols = box
    c = plane.columns_mm[[cols.start, cols.stop - 1]]
    r = plane.rows_mm[[rows.start, rows.stop - 1]]
    return (
        float(c.min() - margin_mm),
        float(c.max() + margin_mm),
        float(r.min() - margin_mm),
        float(r.max() + margin_mm),
    )


def _nice_length(width_mm: float) -> int:
    for length in (200, 100, 50, 20, 10, 5):
        if length <= width_mm / 4:
            return length
    return 5


def _decorate(
    ax: Any, plane: SlicePlane, scale: float, box: tuple[float, float, float, float] | None
) -> None:
    """Limits, patient directions at the edges, a scale bar; no ticks."""
    from matplotlib import patheffects
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    left, right, bottom, top = plane.extent_mm
    if box is not None:
        c0, c1, r0, r1 = box
        left, right = max(left, c0), min(right, c1)
        if top < bottom:  # rows grow downwards (axial: anterior on top)
            top, bottom = max(top, r0), min(bottom, r1)
        else:
            bottom, top = max(bottom, r0), min(top, r1)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal", adjustable="box", anchor="C")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#555555")
    outline = [patheffects.withStroke(linewidth=3 * scale, foreground="black")]
    font = {"color": _FOREGROUND, "fontsize": 15 * scale, "fontweight": "bold", "path_effects": outline}
    label_left, label_right, label_top, label_bottom = plane.labels
    ax.text(0.015, 0.5, label_left, transform=ax.transAxes, ha="left", va="center", **font)
    ax.text(0.985, 0.5, label_right, transform=ax.transAxes, ha="right", va="center", **font)
    ax.text(0.5, 0.985, label_top, transform=ax.transAxes, ha="center", va="top", **font)
    ax.text(0.5, 0.015, label_bottom, transform=ax.transAxes, ha="center", va="bottom", **font)
    length = _nice_length(abs(right - left))
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        f"{length} mm",
        "lower right",
        pad=0.6,
        color=_FOREGROUND,
        frameon=False,
        size_vertical=abs(top - bottom) / 150,
        fontproperties={"size": 10 * scale},
    )
    ax.add_artist(bar)


#: gid of the labels on isodose lines: the ones :func:`_declutter` may drop
_ISODOSE_LABEL = "isodose-label"


def _text_boxes(fig: Any) -> list[tuple[Any, Any]]:
    """``(text artist, window bounding box)`` of every non-empty text the figure really draws.

    The figure is drawn once with :meth:`matplotlib.text.Text.draw` watched: tick labels outside a colour
    bar's range exist as artists but are never drawn, and must not count.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    drawn: list[Any] = []
    original = Text.draw

    def watched(self: Any, renderer: Any) -> Any:
        drawn.append(self)
        return original(self, renderer)

    Text.draw = watched  # type: ignore[method-assign]
    try:
        fig.canvas.draw()
    finally:
        Text.draw = original  # type: ignore[method-assign]
    renderer = fig.canvas.get_renderer()
    return [
        (text, text.get_window_extent(renderer))
        for text in dict.fromkeys(drawn)
        if text.get_visible() and text.get_text().strip()
    ]


def _declutter(fig: Any) -> None:
    """Drop isodose-line labels that would cover other text, each other, or stick out of their axes.

    Direction letters, scale bar, titles and legends always stay; a dropped label's line stays too.
    """
    boxes = _text_boxes(fig)
    kept = [box.expanded(1.05, 1.1) for text, box in boxes if text.get_gid() != _ISODOSE_LABEL]
    for text, box in boxes:
        if text.get_gid() != _ISODOSE_LABEL:
            continue
        axes_box = text.axes.get_window_extent() if text.axes is not None else None
        outside = axes_box is not None and not (
            axes_box.x0 <= box.x0
            and box.x1 <= axes_box.x1
            and axes_box.y0 <= box.y0
            and box.y1 <= axes_box.y1
        )
        if outside or any(box.overlaps(other) for other in kept):
            text.remove()
        else:
            kept.append(box)


@dataclass
class _Drawn:
    handles: list[Any]
    labels: list[str]
    kind: str = ""


def _draw_plane(
    ax: Any,
    plane: SlicePlane,
    ct: CTVolume,
    *,
    wash: np.ndarray | None,
    cmap: Any,
    clim: tuple[float, float] | None,
    threshold: float | None,
    style: SliceStyle,
    symmetric: bool = False,
) -> None:
    ct_plane = sample_on_plane(ct.hu, ct.geometry, plane, order=1, fill=-1000.0)
    rgb = colourwash_rgb(
        ct_plane, style.window, wash, cmap, clim, threshold, style.wash_alpha, symmetric_threshold=symmetric
    )
    ax.imshow(rgb, extent=plane.extent_mm, interpolation="bilinear", origin="upper")


def _draw_isodoses(
    ax: Any,
    plane: SlicePlane,
    dose_plane: np.ndarray,
    reference_gy: float,
    style: SliceStyle,
    scale: float,
    reference_name: str | None = None,
) -> _Drawn:
    """Isodose lines at ``style.isodose_pct`` of ``reference_gy``.

    ``reference_name`` (e.g. ``"8 Gy"``) says that the reference is not this plan's own prescription: the
    lines are then labelled in Gy and the legend names the reference.
    """
    from matplotlib.lines import Line2D

    drawn = _Drawn([], [], "isodose")
    levels = check_levels(style.isodose_pct)
    present = [pct for pct in levels if dose_plane.max() >= reference_gy * pct / 100.0]
    if present:
        values = [reference_gy * pct / 100.0 for pct in present]
        colours = [isodose_color(pct) for pct in present]
        contours = ax.contour(
            plane.columns_mm,
            plane.rows_mm,
            dose_plane,
            levels=values,
            colors=colours,
            linewidths=1.6 * scale,
        )
        if style.show_isodose_labels:
            names = {
                v: f"{v:.3g} Gy" if reference_name else f"{pct:g}%"
                for v, pct in zip(values, present, strict=True)
            }
            # not inline: a label dropped later for covering other text leaves no gap in its line
            labels = ax.clabel(contours, fmt=names, fontsize=10 * scale, inline=False)
            from matplotlib import patheffects

            for text in labels:
                text.set_path_effects([patheffects.withStroke(linewidth=2, foreground="black")])
                text.set_gid(_ISODOSE_LABEL)
    for pct in levels:
        drawn.handles.append(Line2D([], [], color=isodose_color(pct), lw=2.2))
        of = f" of {reference_name}" if reference_name else ""
        drawn.labels.append(f"{pct:g} %{of} = {reference_gy * pct / 100:.3g} Gy")
    return drawn


def _draw_structures(ax: Any, plane: SlicePlane, structures: list[Structure], scale: float) -> _Drawn:
    from matplotlib.lines import Line2D

    drawn = _Drawn([], [], "structure")
    for structure in structures:
        inside = sample_on_plane(structure.mask.astype(np.float32), structure.geometry, plane, order=1)
        if inside.max() < 0.5:
            continue
        role = classify_structure(structure.name)
        # lungs in one pale colour of their own: their structure blues looked like the 50 % isodose
        r, g, b = structure.color
        colour = LUNG_COLOR if role == "lung" else (r / 255.0, g / 255.0, b / 255.0)
        width = (1.0 if role in ("body", "skeleton", "marrow") else 1.4) * scale
        # marrow is dotted so that a red marrow outline is never read as the red 105 % isodose line
        style = ":" if role == "marrow" else "-"
        ax.contour(
            plane.columns_mm,
            plane.rows_mm,
            inside,
            levels=[0.5],
            colors=[colour],
            linewidths=width,
            linestyles=style,
        )
        label = "Lungs" if role == "lung" else structure.name.replace("_", " ")
        if label not in drawn.labels:
            drawn.handles.append(Line2D([], [], color=colour, lw=width, ls=style))
            drawn.labels.append(label)
    return drawn


def _draw_fields(ax: Any, plane: SlicePlane, plan: PlanLike, ct: CTVolume, scale: float) -> _Drawn:
    from matplotlib.lines import Line2D

    drawn = _Drawn([], [], "field")
    any_segment = False
    for source, corners in plan.beam_outlines():
        for segment in _beams.plane_field_segments(source, corners, plane, ct.geometry):
            ax.plot(segment[:, 0], segment[:, 1], color=_FIELD_COLOR, lw=1.3 * scale, ls=(0, (5, 3)))
            any_segment = True
    if any_segment:
        drawn.handles.append(Line2D([], [], color=_FIELD_COLOR, lw=1.3 * scale, ls=(0, (5, 3))))
        drawn.labels.append("field edge")
    return drawn


def _legend(
    fig: Any, parts: Sequence[_Drawn], scale: float, anchor: tuple[float, float], columns: int = 1
) -> None:
    handles = [h for part in parts for h in part.handles]
    labels = [label for part in parts for label in part.labels]
    if not handles:
        return
    legend = fig.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=anchor,
        fontsize=9.5 * scale,
        frameon=False,
        labelcolor=_FOREGROUND,
        handlelength=1.8,
        ncols=columns,
    )
    legend.set_in_layout(False)


def _save(fig: Any, out: Any, force: bool) -> np.ndarray:
    _declutter(fig)
    image = _to_rgb(fig)
    if out is not None:
        from hbiview.render.export import write_png

        write_png(image, out, force=force)
    return image


def _colorbar(
    fig: Any,
    rect: Sequence[float],
    cmap: Any,
    clim: tuple[float, float],
    label: str,
    scale: float,
    reference_gy: float | None = None,
) -> Any:
    """A vertical colour bar; with ``reference_gy`` its left side also reads in percent of that dose."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cax = fig.add_axes(rect)
    bar = fig.colorbar(ScalarMappable(norm=Normalize(*clim), cmap=cmap), cax=cax)
    bar.set_label(label, color=_FOREGROUND, fontsize=11 * scale)
    bar.ax.tick_params(colors=_FOREGROUND, labelsize=10 * scale)
    bar.outline.set_edgecolor("#777777")
    if reference_gy is not None and reference_gy > 0:
        # the same colours read as percent of the prescription: the isodose levels are given in percent
        percent = bar.ax.secondary_yaxis(
            "left", functions=(lambda d: 100.0 * d / reference_gy, lambda p: p * reference_gy / 100.0)
        )
        percent.tick_params(colors=_FOREGROUND, labelsize=10 * scale)
        percent.set_ylabel("% of prescription", color=_FOREGROUND, fontsize=11 * scale)
    return bar


def _reference_gy(plan: PlanLike | None, dose: DoseGrid | None) -> float:
    if plan is not None:
        return prescription_total_gy(plan)
    if dose is not None:
        return dose.max_gy
    return 1.0


def _panel(
    fig: Any,
    ax: Any,
    ct: CTVolume,
    plane: SlicePlane,
    dose: DoseGrid | None,
    plan: PlanLike | None,
    structures: list[Structure],
    style: SliceStyle,
    clim: tuple[float, float] | None,
    scale: float,
    box: tuple[float, float, float, float] | None = None,
    reference_gy: float | None = None,
    reference_name: str | None = None,
) -> list[_Drawn]:
    """One slice with everything on it; returns the legend entries.

    ``box`` (plane limits) replaces the crop to the body and fields, e.g. to show several plans alike.
    ``reference_gy`` (default the plan's prescription) is what 100 % stands for: colour map, threshold,
    isodose levels; ``reference_name`` names it when it is not the plan's own (see :func:`_draw_isodoses`).
    """
    reference = _reference_gy(plan, dose) if reference_gy is None else float(reference_gy)
    dose_plane = None if dose is None else sample_on_plane(dose.dose_gy, dose.geometry, plane, order=1)
    cmap = None if clim is None else dose_cmap(100 * clim[0] / reference, 100 * clim[1] / reference)
    threshold = reference * style.threshold_pct / 100.0
    _draw_plane(ax, plane, ct, wash=dose_plane, cmap=cmap, clim=clim, threshold=threshold, style=style)
    parts: list[_Drawn] = []
    if dose_plane is not None:
        parts.append(_draw_isodoses(ax, plane, dose_plane, reference, style, scale, reference_name))
    parts += _draw_outlines(ax, plane, ct, plan, structures, style, scale)
    if box is None:
        box = _panel_box(ct, plane, plan, structures, style)
    _decorate(ax, plane, scale, box)
    return parts


def _draw_outlines(
    ax: Any,
    plane: SlicePlane,
    ct: CTVolume,
    plan: PlanLike | None,
    structures: list[Structure],
    style: SliceStyle,
    scale: float,
) -> list[_Drawn]:
    """Structure contours and field borders, as ``style`` asks; returns their legend entries."""
    parts: list[_Drawn] = []
    if style.show_structures and structures:
        parts.append(_draw_structures(ax, plane, structures, scale))
    if style.show_fields and plan is not None:
        parts.append(_draw_fields(ax, plane, plan, ct, scale))
    return parts


def _panel_box(
    ct: CTVolume, plane: SlicePlane, plan: PlanLike | None, structures: list[Structure], style: SliceStyle
) -> tuple[float, float, float, float] | None:
    """Plane limits: the body plus margin, on coronal/sagittal views limited to the fields' extent."""
    body = structures_by_role(structures)["body"]
    box = _crop_box(plane, body[0] if body else None, style.crop_margin_mm)
    return _field_crop(box, plane, plan, style, ct.geometry)


def _field_crop(
    box: tuple[float, float, float, float] | None,
    plane: SlicePlane,
    plan: PlanLike | None,
    style: SliceStyle,
    geometry: Any,
) -> tuple[float, float, float, float] | None:
    """Limit the rows of a coronal or sagittal view to the fields' z extent plus the margin."""
    if plan is None or not style.crop_to_fields or plane.row_axis != 2 or style.crop_margin_mm is None:
        return box
    extent = _beams.field_extent(plan.beam_outlines(), *geometry.bounds_mm())
    if extent is None:
        return box
    margin = max(style.crop_margin_mm, 60.0)
    if box is None:
        left, right, bottom, top = plane.extent_mm
        box = (min(left, right), max(left, right), min(bottom, top), max(bottom, top))
    low, high = max(box[2], extent[0][2] - margin), min(box[3], extent[1][2] + margin)
    return box if low >= high else (box[0], box[1], low, high)


def _default_position(
    view: str,
    plan: PlanLike | None,
    position_mm: float | None,
    ct: CTVolume,
    structures: Sequence[Structure] = (),
) -> float | None:
    """The slice position asked for, else the one through the plan's prescription point.

    The prescription point (:func:`hbiview.render.beams.prescription_point`) lies in the target: the
    midplane of an AP/PA pair, the given depth of a single field (a PA spine field's vertebra), not the
    middle of the patient in front of it.
    """
    if position_mm is not None or plan is None:
        return position_mm
    body = structures_by_role(structures)["body"]
    if body:
        point = _beams.prescription_point(plan, body[0].mask, body[0].geometry)
    else:
        point = _beams.prescription_point(plan, None, ct.geometry)
    if point is None:
        return None
    return float(point[{"axial": 2, "coronal": 1, "sagittal": 0}[view]])


def render_slice(
    ct: CTVolume,
    *,
    dose: DoseGrid | None = None,
    plan: PlanLike | None = None,
    structures: Iterable[Structure] | Mapping[str, Structure] | None = None,
    view: str = "axial",
    position_mm: float | None = None,
    style: SliceStyle | None = None,
    size: Sequence[int] = (900, 700),
    title: str | None = None,
    out: Any = None,
    force: bool = False,
    font_scale: float = 1.0,
) -> np.ndarray:
    """A slice view of CT, dose, structures and fields as an RGB picture (and optionally a PNG file).

    Parameters
    ----------
    ct
        The CT.
    dose
        Total dose (Gy) on its own grid; ``None`` for CT only.
    plan
        The plan (name, prescription, beam outlines) for the title, isodose percentages and field borders.
    structures
        Structures to outline; one named ``Body``/``External`` crops the picture to the patient.
    view
        ``"axial"``, ``"coronal"`` or ``"sagittal"``.
    position_mm
        LPS coordinate of the slice (z for axial, y for coronal, x for sagittal); default the centre of the
        fields (or of the CT without a plan).
    style
        Window, isodose levels, colourwash threshold (see :class:`SliceStyle`).
    size
        Picture size ``(width, height)`` in pixels.
    title
        Title; default the plan name and prescription.
    out
        PNG file to write (atomically); ``None`` writes nothing.
    force
        Replace an existing ``out``.
    font_scale
        Factor (0.25-4) on every text size, on top of the automatic scaling with the picture size: e.g.
        1.5 when the picture is shown small, as one panel of a lecture slide.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8 RGB picture.
    """
    style = style or SliceStyle()
    structure_list = _structure_list(structures)
    plane = make_plane(ct.geometry, view, _default_position(view, plan, position_mm, ct, structure_list))
    fig, ax, scale = _single_figure(size, font_scale)
    reference = _reference_gy(plan, dose)
    clim = None if dose is None else dose_range_gy(reference, dose.max_gy, style.threshold_pct)
    parts = _panel(fig, ax, ct, plane, dose, plan, structure_list, style, clim, scale)
    if clim is not None:
        _colorbar(
            fig,
            (0.77 if plan is not None else 0.70, 0.50, 0.025, 0.40),
            dose_cmap(100 * clim[0] / reference, 100 * clim[1] / reference),
            clim,
            "total dose (Gy)",
            scale,
            reference_gy=reference if plan is not None else None,
        )
    _legend(fig, parts, scale, (0.685, 0.44))
    _heading(fig, title if title is not None else plan_title(plan), plane, style, scale)
    return _save(fig, out, force)


def _single_figure(size: Sequence[int], font_scale: float) -> tuple[Any, Any, float]:
    """Figure, picture axes (the left two thirds, the right for colour bar and legend) and text scale."""
    fig, scale = _figure(size, font_scale)
    ax = fig.add_axes((0.01, 0.02, 0.66, 0.87))
    ax.set_facecolor("black")
    return fig, ax, scale


def _heading(fig: Any, heading: str, plane: SlicePlane, style: SliceStyle, scale: float) -> None:
    """Title of a one-slice picture and, below it, the slice and the CT window."""
    fig.suptitle(heading, color=_FOREGROUND, fontsize=15 * scale, x=0.01, y=0.985, ha="left", va="top")
    _subtitle(fig, plane, style, scale)


def _subtitle(fig: Any, plane: SlicePlane, style: SliceStyle, scale: float) -> None:
    window = style.window if isinstance(style.window, str) else "W {1:g} / L {0:g}".format(*style.window)
    fig.text(
        0.01, 0.925, f"{plane.title} · {window} window", color="#cccccc", fontsize=10.5 * scale, ha="left"
    )


def render_compare_slices(
    ct: CTVolume,
    cases: Sequence[tuple[PlanLike, DoseGrid]],
    *,
    structures: Iterable[Structure] | Mapping[str, Structure] | None = None,
    view: str = "coronal",
    position_mm: float | Sequence[float] | None = None,
    style: SliceStyle | None = None,
    size: Sequence[int] = (1400, 700),
    title: str | None = None,
    out: Any = None,
    force: bool = False,
    scale: str = "auto",
    labels: Sequence[str] | None = None,
    font_scale: float = 1.0,
) -> np.ndarray:
    """Two to four plans side by side on the same slice with one honest dose colour scale.

    With ``scale="gy"`` every panel is coloured on one absolute scale (Gy) and the isodose lines are at
    the same doses in every panel (percent of the highest prescription, labelled in Gy when the
    prescriptions differ); with ``scale="percent"`` each panel is coloured in percent of its own
    prescription (isodoses too) and the bar is in %. ``"auto"`` picks percent when the prescriptions
    differ, Gy when they are equal.

    Parameters
    ----------
    ct
        The CT.
    cases
        ``(plan, dose)`` pairs, 2 to 4.
    structures, view, style, size, title, out, force, font_scale
        As for :func:`render_slice`.
    position_mm
        One slice position (mm) for every panel, one per plan, or ``None``: each plan's slice through its
        own prescription point (a PA spine field's vertebra, not the middle of the patient in front of
        it); each panel names its slice under its title.
    scale
        ``"auto"``, ``"gy"`` or ``"percent"`` (see :func:`hbiview.render.colors.shared_dose_scale`).
    labels
        One name per panel, shown in its title instead of the plan's name (the prescription follows);
        default the plan names.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8 RGB picture.
    """
    if not 2 <= len(cases) <= 4:
        raise InputError(f"a comparison shows 2 to 4 plans, got {len(cases)}")
    names = _panel_labels(labels, len(cases))
    style = style or SliceStyle()
    structure_list = _structure_list(structures)
    if position_mm is None or np.ndim(position_mm) == 0:
        # np.ndim(...) == 0: one number or None (mypy cannot narrow on np.ndim)
        positions = [cast("float | None", position_mm)] * len(cases)
    else:
        positions = [float(p) for p in position_mm]  # type: ignore[union-attr]
        if len(positions) != len(cases):
            raise InputError(f"{len(positions)} slice positions for {len(cases)} plans: give one per plan")
    planes = [
        make_plane(ct.geometry, view, _default_position(view, plan, p, ct, structure_list))
        for (plan, _), p in zip(cases, positions, strict=True)
    ]
    plane = planes[0]
    same_slice = all(abs(p.position_mm - plane.position_mm) < 1e-6 for p in planes)
    fig, text = _figure(size, font_scale)
    text *= 0.85
    prescriptions = [_reference_gy(plan, dose) for plan, dose in cases]
    shared = shared_dose_scale(prescriptions, [dose.max_gy for _, dose in cases], style.threshold_pct, scale)
    # isodoses at another plan's percentages: say so, and label them in Gy
    common = shared.mode == "gy" and not np.allclose(shared.references_gy, prescriptions, rtol=1e-6)
    reference_name = f"{shared.references_gy[0]:g} Gy" if common else None
    n = len(cases)
    width = 0.82 / n
    parts: list[_Drawn] = []
    # the same picture limits in every panel (the union of each plan's crop), so sizes compare directly
    boxes = [_panel_box(ct, p, plan, structure_list, style) for p, (plan, _) in zip(planes, cases)]
    shared_box = None
    if all(b is not None for b in boxes):
        stack = np.array(boxes, dtype=float)
        shared_box = (stack[:, 0].min(), stack[:, 1].max(), stack[:, 2].min(), stack[:, 3].max())
    for index, ((plan, dose), name) in enumerate(zip(cases, names, strict=True)):
        # a second title line (the panel's own slice) takes room from the picture
        ax = fig.add_axes((0.005 + index * width, 0.17, width - 0.008, 0.72 if same_slice else 0.67))
        ax.set_facecolor("black")
        panel_parts = _panel(
            fig,
            ax,
            ct,
            planes[index],
            dose,
            plan,
            structure_list,
            style,
            shared.clims_gy[index],
            text,
            box=shared_box,
            reference_gy=shared.references_gy[index],
            reference_name=reference_name,
        )
        heading = plan_title(plan, name=name)
        if not same_slice:
            heading += f"\n{planes[index].title}"
        ax.set_title(heading, color=_FOREGROUND, fontsize=12 * text, pad=4, linespacing=1.25)
        if index == 0:
            # isodose entries hold for every panel only when they are the same doses everywhere
            parts = [p for p in panel_parts if p.kind != "isodose" or shared.common_reference]
    # in Gy with one prescription for all, the bar also reads in percent of it
    percent_of = shared.references_gy[0] if shared.mode == "gy" and not common else None
    _colorbar(
        fig,
        (0.915, 0.36, 0.018, 0.50),
        shared.cmap(),
        shared.bar_range,
        shared.bar_label,
        text,
        reference_gy=percent_of,
    )
    _legend(fig, parts, text, (0.005, 0.155), columns=4)
    if not shared.common_reference:
        levels = ", ".join(f"{p:g}" for p in check_levels(style.isodose_pct))
        fig.text(
            0.85,
            0.30,
            f"isodoses:\n{levels} %\nof each plan's\nprescription",
            color=_FOREGROUND,
            fontsize=10 * text,
            va="top",
        )
    bar = "one colour scale in Gy" if shared.mode == "gy" else "colours in % of each plan's prescription"
    where = plane.title if same_slice else f"{view} slices through each plan's prescription point"
    heading = title if title is not None else f"{where}: {n} plans, {bar}"
    fig.suptitle(heading, color=_FOREGROUND, fontsize=14 * text, x=0.005, y=0.99, ha="left", va="top")
    return _save(fig, out, force)


def render_difference_slice(
    ct: CTVolume,
    dose_a: DoseGrid,
    dose_b: DoseGrid,
    *,
    label_a: str = "A",
    label_b: str = "B",
    structures: Iterable[Structure] | Mapping[str, Structure] | None = None,
    view: str = "coronal",
    position_mm: float | None = None,
    plan: PlanLike | None = None,
    style: SliceStyle | None = None,
    threshold_gy: float | None = None,
    size: Sequence[int] = (900, 700),
    title: str | None = None,
    out: Any = None,
    force: bool = False,
    font_scale: float = 1.0,
) -> np.ndarray:
    """Dose difference ``A - B`` on a slice, diverging colours centred on zero (blue: A lower, red: A higher).

    Parameters
    ----------
    ct
        The CT.
    dose_a, dose_b
        Total doses (Gy); ``dose_b`` is resampled onto ``dose_a``'s grid.
    label_a, label_b
        Names shown in the title and on the colour bar.
    structures, view, position_mm, style, size, title, out, force, font_scale
        As for :func:`render_slice`.
    plan
        Plan whose field borders are drawn and whose centre sets the default position.
    threshold_gy
        Differences smaller than this (Gy) show plain CT; default 1 % of the larger maximum dose.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8 RGB picture.
    """
    style = style or SliceStyle()
    structure_list = _structure_list(structures)
    plane = make_plane(ct.geometry, view, _default_position(view, plan, position_mm, ct, structure_list))
    a = sample_on_plane(dose_a.dose_gy, dose_a.geometry, plane, order=1)
    b = sample_on_plane(dose_b.dose_gy, dose_b.geometry, plane, order=1)
    difference = a - b
    # symmetric limits: the colour of +d and -d differ only in hue, so neither sign looks bigger
    limit = float(np.max(np.abs(difference))) or 1.0
    if threshold_gy is None:
        threshold_gy = 0.01 * max(dose_a.max_gy, dose_b.max_gy)
    fig, ax, scale = _single_figure(size, font_scale)
    cmap = difference_cmap()
    _draw_plane(
        ax,
        plane,
        ct,
        wash=difference,
        cmap=cmap,
        clim=(-limit, limit),
        threshold=threshold_gy,
        style=SliceStyle(**{**style.__dict__, "wash_alpha": max(style.wash_alpha, 0.6)}),
        symmetric=True,
    )
    parts = _draw_outlines(ax, plane, ct, plan, structure_list, style, scale)
    _decorate(ax, plane, scale, _panel_box(ct, plane, plan, structure_list, style))
    _colorbar(fig, (0.70, 0.50, 0.025, 0.40), cmap, (-limit, limit), f"{label_a} − {label_b} (Gy)", scale)
    _legend(fig, parts, scale, (0.685, 0.44))
    _heading(
        fig, title if title is not None else f"dose difference: {label_a} − {label_b}", plane, style, scale
    )
    fig.text(0.70, 0.935, f"max |difference| {limit:.2f} Gy", color="#dddddd", fontsize=9.5 * scale)
    return _save(fig, out, force)
