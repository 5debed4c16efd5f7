"""Pictures for the web page: CT slices with the dose colourwash and isodose lines, and the DVH chart.

Slices are plain RGB pictures (PNG, a few tens of kB) made with the renderer's own pieces, so the page's
colours are those of every other hbiview picture: :func:`hbiview.render.planes.make_plane` and
:func:`~hbiview.render.planes.sample_on_plane` place the pixels, :func:`hbiview.render.colors.colourwash_rgb`
blends CT and dose, isodose lines take :func:`hbiview.render.style.isodose_color`. Isodose lines and outlines
are drawn as the pixels on the edge of each level's region (no matplotlib figure: a slice takes
milliseconds). The DVH chart is a small SVG drawn here.
"""

from __future__ import annotations

import base64
import io
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from hbiview.volume import CTVolume, DoseGrid, Structure

__all__ = [
    "DVH_COLOURS",
    "SlicePainter",
    "difference_png",
    "dvh_svg",
    "png_data_url",
    "slice_png",
    "slice_rgb",
]

#: Line colour of each DVH curve (CSS), the structures' usual display colours made legible on white.
DVH_COLOURS = {"Lungs": "#2b7bba", "Marrow": "#c0392b", "Body": "#7f6a4f"}

_OUTLINE_RGB = {"lung": (200, 236, 255), "body": (245, 205, 175)}


def _edge(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` that touch a pixel outside it (a one-pixel outline; the picture edge is no edge)."""
    return mask & ~ndimage.binary_erosion(mask, border_value=1)


class SlicePainter:
    """Slice pictures of one CT and its structures, keeping what does not depend on the dose.

    The CT's grey values and the structure outlines of a slice are kept (per view, position, window and
    pixel size), so after a border change only the dose is sampled again: the page redraws three slices in
    a few tens of milliseconds.

    Parameters
    ----------
    ct
        The CT.
    structures
        Structures outlined (lungs and body by their names; ``Lung_L`` / ``Lung_R`` are left to ``Lungs``).
    keep
        How many slices' CT and outlines are kept.
    """

    def __init__(self, ct: CTVolume, structures: Iterable[Structure] = (), keep: int = 48) -> None:
        from hbiview.render.style import classify_structure

        self.ct = ct
        self.structures = [
            (s, _OUTLINE_RGB[classify_structure(s.name)])
            for s in structures
            if classify_structure(s.name) in _OUTLINE_RGB and s.name not in ("Lung_L", "Lung_R")
        ]
        self.keep = keep
        self._backdrops: OrderedDict[tuple[Any, ...], tuple[Any, np.ndarray, np.ndarray, np.ndarray]] = (
            OrderedDict()
        )
        self._masks: dict[int, np.ndarray] = {}
        self._cmaps: dict[tuple[float, float], Any] = {}
        self._dose_index: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()

    def _sample_dose(self, dose: DoseGrid, plane: Any) -> np.ndarray:
        """The dose (Gy) at the plane's pixels; where they fall on the dose grid is kept per grid."""
        geometry = dose.geometry
        key = (
            plane.view,
            plane.position_mm,
            plane.points_lps.shape,
            geometry.shape,
            geometry.affine.tobytes(),
        )
        index = self._dose_index.get(key)
        if index is None:
            index = geometry.lps_to_index(plane.points_lps.reshape(-1, 3)).T.astype(np.float32)
            self._dose_index[key] = index
            while len(self._dose_index) > self.keep:
                self._dose_index.popitem(last=False)
        values = ndimage.map_coordinates(
            np.asarray(dose.dose_gy, dtype=np.float32),
            index,
            order=1,
            mode="constant",
            cval=0.0,
            prefilter=False,
        )
        return values.reshape(plane.points_lps.shape[:2])

    def _backdrop(
        self, view: str, position_mm: float, pixel_mm: float | None
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
        """The slice plane, its HU, where outlines are and their colours (RGB uint8)."""
        from hbiview.render.planes import make_plane, sample_on_plane

        key = (view, round(float(position_mm), 3), pixel_mm)
        hit = self._backdrops.get(key)
        if hit is not None:
            self._backdrops.move_to_end(key)
            return hit
        plane = make_plane(self.ct.geometry, view, float(position_mm), pixel_mm=pixel_mm)
        hu = sample_on_plane(self.ct.hu, self.ct.geometry, plane, order=1, fill=-1000.0)
        outlines = np.zeros((*hu.shape, 3), dtype=np.uint8)
        drawn = np.zeros(hu.shape, dtype=bool)
        for structure, colour in self.structures:
            mask = self._masks.get(id(structure))
            if mask is None:
                mask = self._masks[id(structure)] = structure.mask.astype(np.float32)
            edge = _edge(sample_on_plane(mask, structure.geometry, plane, order=0) > 0.5)
            outlines[edge] = colour
            drawn |= edge
        hit = (plane, hu, drawn, outlines)
        self._backdrops[key] = hit
        while len(self._backdrops) > self.keep:
            self._backdrops.popitem(last=False)
        return hit

    def rgb(
        self,
        view: str,
        position_mm: float,
        *,
        dose: DoseGrid | None = None,
        reference_gy: float | None = None,
        clim_gy: tuple[float, float] | None = None,
        isodose_pct: Sequence[float] = (50.0, 80.0, 95.0, 105.0),
        window: str = "soft",
        pixel_mm: float | None = 2.5,
        threshold_pct: float = 20.0,
    ) -> np.ndarray:
        """One slice with the dose colourwash, isodose lines and outlines; see :func:`slice_rgb`."""
        from hbiview.render.colors import colourwash_rgb, dose_cmap, dose_range_gy
        from hbiview.render.style import isodose_color

        plane, hu, drawn, outlines = self._backdrop(view, position_mm, pixel_mm)
        values = cmap = None
        threshold = None
        reference = reference_gy
        if dose is not None:
            values = self._sample_dose(dose, plane)
            reference = float(reference_gy if reference_gy is not None else dose.max_gy) or 1.0
            clim_gy = clim_gy or dose_range_gy(reference, dose.max_gy, threshold_pct)
            span = (round(100 * clim_gy[0] / reference, 6), round(100 * clim_gy[1] / reference, 6))
            cmap = self._cmaps.get(span)
            if cmap is None:
                cmap = self._cmaps[span] = dose_cmap(*span)
            threshold = reference * threshold_pct / 100.0
        rgb = colourwash_rgb(hu, window, values, cmap, clim_gy, threshold, alpha=0.55)
        rgb[drawn] = outlines[drawn]
        if values is not None and reference is not None:
            for pct in sorted(isodose_pct):
                edge = _edge(values >= reference * pct / 100.0)
                rgb[edge] = (np.asarray(isodose_color(pct)) * 255 + 0.5).astype(np.uint8)
        return rgb

    def difference(
        self,
        view: str,
        position_mm: float,
        dose_a: DoseGrid,
        dose_b: DoseGrid,
        *,
        limit_gy: float | None = None,
        window: str = "soft",
        pixel_mm: float | None = 2.5,
        threshold_gy: float | None = None,
    ) -> tuple[np.ndarray, float]:
        """A minus B on one slice; see :func:`difference_rgb`."""
        from hbiview.render.colors import colourwash_rgb, difference_cmap

        plane, hu, drawn, outlines = self._backdrop(view, position_mm, pixel_mm)
        a = self._sample_dose(dose_a, plane)
        b = self._sample_dose(dose_b, plane)
        diff = a - b
        if limit_gy is None:
            limit_gy = float(np.max(np.abs(diff))) or 1.0
        if threshold_gy is None:
            threshold_gy = 0.02 * max(dose_a.max_gy, dose_b.max_gy)
        rgb = colourwash_rgb(
            hu, window, diff, difference_cmap(), (-limit_gy, limit_gy), threshold_gy, alpha=0.6,
            symmetric_threshold=True,
        )  # fmt: skip
        rgb[drawn] = outlines[drawn]
        return rgb, float(limit_gy)


def slice_rgb(
    ct: CTVolume,
    view: str,
    position_mm: float,
    *,
    dose: DoseGrid | None = None,
    reference_gy: float | None = None,
    clim_gy: tuple[float, float] | None = None,
    isodose_pct: Sequence[float] = (50.0, 80.0, 95.0, 105.0),
    structures: Iterable[Structure] = (),
    window: str = "soft",
    pixel_mm: float | None = 2.5,
    threshold_pct: float = 20.0,
) -> np.ndarray:
    """One CT slice with the dose colourwash, isodose lines and structure outlines, as RGB.

    Parameters
    ----------
    ct
        The CT.
    view
        ``"axial"``, ``"coronal"`` or ``"sagittal"``.
    position_mm
        LPS coordinate of the slice along its normal (z, y or x).
    dose
        Total dose (Gy); ``None`` for plain CT.
    reference_gy
        The dose 100 % stands for (isodose levels, threshold); default the dose's maximum.
    clim_gy
        Colour range (Gy); default :func:`hbiview.render.colors.dose_range_gy` of the reference.
    isodose_pct
        Isodose lines, percent of ``reference_gy``.
    structures
        Structures outlined (lungs and body by their names).
    window
        CT window.
    pixel_mm
        Pixel size (mm); ``None``: the CT's own spacing.
    threshold_pct
        Colourwash only from this percent of the reference up.

    Returns
    -------
    numpy.ndarray
        ``(rows, columns, 3)`` uint8, oriented as :func:`hbiview.render.planes.make_plane` lays it out.
        A :class:`SlicePainter` makes the same pictures and keeps the CT part between calls.
    """
    return SlicePainter(ct, structures).rgb(
        view, position_mm, dose=dose, reference_gy=reference_gy, clim_gy=clim_gy, isodose_pct=isodose_pct,
        window=window, pixel_mm=pixel_mm, threshold_pct=threshold_pct,
    )  # fmt: skip


def difference_rgb(
    ct: CTVolume,
    view: str,
    position_mm: float,
    dose_a: DoseGrid,
    dose_b: DoseGrid,
    *,
    limit_gy: float | None = None,
    window: str = "soft",
    pixel_mm: float | None = 2.5,
    threshold_gy: float | None = None,
) -> tuple[np.ndarray, float]:
    """The difference A minus B (Gy) on one slice, blue to red over the CT, and the colour range used.

    Parameters
    ----------
    ct, view, position_mm, window, pixel_mm
        As :func:`slice_rgb`.
    dose_a, dose_b
        Total doses (Gy); each is sampled at the slice's pixels (their grids may differ).
    limit_gy
        The colour range is ``-limit_gy`` to ``+limit_gy``; default the largest difference on the slice.
    threshold_gy
        Differences smaller than this show plain CT; default 2 % of the larger maximum dose.

    Returns
    -------
    rgb, limit_gy
        The picture and the colour range's half width (Gy).
    """
    return SlicePainter(ct).difference(
        view, position_mm, dose_a, dose_b, limit_gy=limit_gy, window=window, pixel_mm=pixel_mm,
        threshold_gy=threshold_gy,
    )  # fmt: skip


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB picture as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def png_data_url(rgb: np.ndarray) -> str:
    """An RGB picture as a ``data:image/png;base64,...`` URL (what the page's image shows)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode("ascii")


def slice_png(*args: Any, **kwargs: Any) -> str:
    """:func:`slice_rgb` as a PNG data URL."""
    return png_data_url(slice_rgb(*args, **kwargs))


def difference_png(*args: Any, **kwargs: Any) -> tuple[str, float]:
    """:func:`difference_rgb` as a PNG data URL, with the colour range's half width (Gy)."""
    rgb, limit = difference_rgb(*args, **kwargs)
    return png_data_url(rgb), limit


def _nice_step(span: float) -> float:
    for step in sorted({m * 10.0**e for e in range(-2, 4) for m in (1.0, 2.0, 5.0)}):
        if span / step <= 6:
            return step
    return span


def dvh_svg(
    curves: Sequence[tuple[str, Any]],
    *,
    width: int = 460,
    height: int = 260,
    dose_max_gy: float | None = None,
    prescription_gy: float | None = None,
) -> str:
    """Cumulative DVHs as one SVG chart: x dose (Gy), y percent of the structure.

    Parameters
    ----------
    curves
        ``(label, curve)`` pairs; ``curve`` has ``structure``, ``dose_gy``, ``percent`` and ``weighted``
        (:class:`hbiview.serve.model.DvhCurve`). A label ending in ``"(B)"`` is drawn dashed (comparison).
    width, height
        Size in pixels.
    dose_max_gy
        End of the dose axis; default the largest dose of the curves.
    prescription_gy
        Drawn as a vertical grey line.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    left, right, top, bottom = 48, 12, 10, 36
    w, h = width - left - right, height - top - bottom
    top_gy = dose_max_gy or max((float(np.max(c.dose_gy)) for _, c in curves if len(c.dose_gy)), default=1.0)
    top_gy = max(top_gy, 1e-6)

    def x(d: Any) -> Any:
        return left + w * np.clip(np.asarray(d, float) / top_gy, 0.0, 1.0)

    def y(p: Any) -> Any:
        return top + h * (1.0 - np.clip(np.asarray(p, float) / 100.0, 0.0, 1.0))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fff" stroke="#999"/>',
    ]
    step = _nice_step(top_gy)
    for tick in np.arange(0.0, top_gy + 1e-9, step):
        out.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{top + h}" stroke="#eee"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{top + h + 14}" text-anchor="middle">{tick:g}</text>')
    for pct in range(0, 101, 25):
        out.append(f'<line x1="{left}" y1="{y(pct):.1f}" x2="{left + w}" y2="{y(pct):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 4}" y="{y(pct) + 4:.1f}" text-anchor="end">{pct}</text>')
    out.append(f'<text x="{left + w / 2}" y="{height - 4}" text-anchor="middle">dose (Gy)</text>')
    out.append(
        f'<text x="12" y="{top + h / 2}" text-anchor="middle" transform="rotate(-90 12 {top + h / 2})">'
        "volume (%)</text>"
    )
    if prescription_gy:
        out.append(
            f'<line x1="{x(prescription_gy):.1f}" y1="{top}" x2="{x(prescription_gy):.1f}" y2="{top + h}" '
            'stroke="#888" stroke-dasharray="2,3"/>'
        )
    for i, (label, curve) in enumerate(curves):
        colour = DVH_COLOURS.get(curve.structure, "#444")
        dashed = ' stroke-dasharray="6,4"' if label.endswith("(B)") else ""
        keep = np.unique(np.linspace(0, len(curve.dose_gy) - 1, min(len(curve.dose_gy), 300)).astype(int))
        dose, percent = np.asarray(curve.dose_gy)[keep], np.asarray(curve.percent)[keep]
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in zip(x(dose), y(percent), strict=True))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dashed} points="{points}"/>')
        ly = top + 14 + 14 * i
        out.append(
            f'<line x1="{left + w - 150}" y1="{ly - 4}" x2="{left + w - 132}" y2="{ly - 4}" '
            f'stroke="{colour}" stroke-width="2"{dashed}/>'
        )
        out.append(f'<text x="{left + w - 128}" y="{ly}">{_escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
