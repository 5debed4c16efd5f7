"""Pictures for the web page: CT slices with the dose colourwash and isodose lines, and the DVH chart.

Slices are plain RGB pictures (PNG, a few tens of kB) made with the renderer's own pieces, so the page's
colours are those of every other hbiview picture: :func:`hbiview.render.planes.make_plane` and
:func:`~hbiview.render.planes.sample_on_plane` place the pixels, :func:`hbiview.render.colors.colourwash_rgb`
blends CT and dose, isodose lines take :func:`hbiview.render.style.isodose_color`. Isodose lines and outlines
are drawn as the pixels on the edge of each level's region (no matplotlib figure: a slice takes
milliseconds). The DVH chart is a small SVG drawn here.

After a border change only the dose part of a slice is made again (:class:`SlicePainter` keeps the CT's
grey picture and the outlines), with the same pixels as those functions give, by quicker means: the dose
sampled one axis at a time on grids without obliquity, the colour map as a look-up table over the washed
pixels only, every isodose line in one pass, and a plain PNG encoder (tests/serve/test_pictures.py
compares each picture byte for byte with the general computation).
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from hbiview.errors import InputError
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


def _neighbour_min(level: np.ndarray) -> np.ndarray:
    """The smallest value among each pixel and its four neighbours (outside the picture: no neighbour)."""
    low = level.copy()
    np.minimum(low[1:], level[:-1], out=low[1:])
    np.minimum(low[:-1], level[1:], out=low[:-1])
    np.minimum(low[:, 1:], level[:, :-1], out=low[:, 1:])
    np.minimum(low[:, :-1], level[:, 1:], out=low[:, :-1])
    return low


def _axis_weights(
    coords: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation along one axis of ``n`` samples at fractional indices ``coords``.

    As :func:`scipy.ndimage.map_coordinates` with ``order=1, mode="constant"`` does it: an index outside
    ``[0, n - 1]`` takes nothing (weights 0). Returns the lower and upper sample, their weights and
    whether each index lies inside.
    """
    c = np.asarray(coords, dtype=np.float64)
    inside = (c >= 0.0) & (c <= n - 1)
    low = np.clip(np.floor(c), 0, max(n - 2, 0)).astype(np.intp)
    high = np.minimum(low + 1, n - 1)
    t = np.where(inside, c - low, 0.0)
    return low, high, np.where(inside, 1.0 - t, 0.0), t, inside


def _axis_nearest(coords: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample nearest to each fractional index, and whether the index lies inside ``[0, n - 1]``.

    As :func:`scipy.ndimage.map_coordinates` with ``order=0, mode="constant"`` does it: halves round up
    (``floor(c + 0.5)``).
    """
    c = np.asarray(coords, dtype=np.float64)
    inside = (c >= 0.0) & (c <= n - 1)
    return np.clip(np.floor(c + 0.5), 0, n - 1).astype(np.intp), inside


def _separable_sample(
    array: np.ndarray,
    geometry: Any,
    plane: Any,
    *,
    order: int = 1,
    fill: float = 0.0,
    float32_index: bool = True,
) -> np.ndarray | None:
    """Values of ``array`` at the pixels of an orthogonal ``plane``, one axis at a time.

    When the grid's axes run along the patient's (no obliquity at all), the picture's rows, its columns
    and the plane's normal each follow one array axis, and trilinear interpolation is three 1-D linear
    interpolations in turn: a few operations per pixel instead of eight samples of the volume (and no
    copy of the volume in float32).

    Parameters
    ----------
    array
        Values on ``geometry``, ``(z, y, x)``.
    geometry
        Its grid.
    plane
        The slice (:class:`hbiview.render.planes.SlicePlane`).
    order
        1: trilinear, float32 values equal to :func:`scipy.ndimage.map_coordinates` (``order=1``,
        ``mode="constant"``) at the same indices to float32 rounding (the sums are taken in another
        order); 0: nearest sample, the very values ``map_coordinates`` (``order=0``) picks, in
        ``array``'s type.
    fill
        Value of pixels outside the grid.
    float32_index
        Round the indices to float32 first, as :class:`SlicePainter` does for the dose (``False``: as
        :func:`hbiview.render.planes.sample_on_plane`, float64).

    Returns
    -------
    numpy.ndarray or None
        ``(rows, columns)``; ``None`` for an oblique grid (sample it the general way).
    """
    inverse = np.linalg.inv(geometry.affine[:3, :3])
    if np.count_nonzero(inverse) != 3:
        return None
    lps_axis = [int(np.argmax(np.abs(row))) for row in inverse]  # LPS axis each array axis follows
    if sorted(lps_axis) != [0, 1, 2]:
        return None
    fixed, row, column = (lps_axis.index(a) for a in (plane.fixed_axis, plane.row_axis, plane.column_axis))
    points = plane.points_lps
    # the indices exactly as geometry.lps_to_index gives them for every pixel (each depends on one
    # coordinate only: the other products are zeros)
    dtype = np.float32 if float32_index else np.float64
    rows = geometry.lps_to_index(points[:, 0, :]).astype(dtype)[:, row]
    columns = geometry.lps_to_index(points[0, :, :]).astype(dtype)[:, column]
    normal = geometry.lps_to_index(points[:1, 0, :]).astype(dtype)[:, fixed]
    if order == 0:
        index, inside_normal = _axis_nearest(normal, array.shape[fixed])
        slab = np.take(array, index[0], axis=fixed)
        if row > column:  # the two remaining axes, in array order: make them (row, column)
            slab = slab.T
        index_rows, inside_rows = _axis_nearest(rows, slab.shape[0])
        index_columns, inside_columns = _axis_nearest(columns, slab.shape[1])
        values = slab[np.ix_(index_rows, index_columns)]
    elif order == 1:
        low, high, w_low, w_high, inside_normal = _axis_weights(normal, array.shape[fixed])
        slab = w_low[0] * np.take(array, low[0], axis=fixed).astype(np.float64)
        slab += w_high[0] * np.take(array, high[0], axis=fixed)
        if row > column:
            slab = slab.T
        low, high, w_low, w_high, inside_rows = _axis_weights(rows, slab.shape[0])
        slab = w_low[:, np.newaxis] * slab[low] + w_high[:, np.newaxis] * slab[high]
        low, high, w_low, w_high, inside_columns = _axis_weights(columns, slab.shape[1])
        values = (slab[:, low] * w_low + slab[:, high] * w_high).astype(np.float32)
    else:
        raise InputError(f"interpolation order {order}: only 0 (nearest) and 1 (linear) are drawn")
    if not (inside_normal.all() and inside_rows.all() and inside_columns.all()):
        if not inside_normal[0]:
            values[...] = fill
        else:
            values[~inside_rows, :] = fill
            values[:, ~inside_columns] = fill
    return values


def _wash(
    base: np.ndarray,
    grey: np.ndarray,
    values: np.ndarray,
    lut: np.ndarray,
    clim: tuple[float, float],
    threshold: float | None,
    alpha: float = 0.55,
    ct_floor: float = 0.5,
) -> np.ndarray:
    """:func:`hbiview.render.colors.colourwash_rgb` of a dose, the same pixels, from parts kept per slice.

    ``base`` is the grey CT as RGB uint8 and ``grey`` its float32 grey level (0-1) (both depend on the
    slice and the window only); ``lut`` is the colour map's table (``cmap(range(cmap.N))``, RGB). Only
    the pixels under the wash are computed, with the same arithmetic in the same precision as
    ``colourwash_rgb`` (and matplotlib's look-up of a float in a colour map), so the bytes are equal.
    """
    vals = np.asarray(values, dtype=np.float32)
    mask = vals >= (threshold if threshold is not None else clim[0])
    rgb = base.copy()
    if not mask.any():
        return rgb
    norm = np.clip((vals[mask] - clim[0]) / max(clim[1] - clim[0], 1e-12), 0.0, 1.0)
    n = len(lut)
    index = norm * n
    index[index == n] = n - 1
    colour = lut[index.astype(int)]
    under = ct_floor + (1.0 - ct_floor) * grey[mask]
    mixed = ((1.0 - alpha) * under[:, np.newaxis] + alpha * colour).astype(np.float32)
    rgb[mask] = (mixed * 255.0 + 0.5).astype(np.uint8)
    return rgb


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
        self._luts: dict[tuple[float, float], np.ndarray] = {}
        self._greys: OrderedDict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._dose_index: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()

    def _sample_dose(self, dose: DoseGrid, plane: Any) -> np.ndarray:
        """The dose (Gy) at the plane's pixels; where they fall on the dose grid is kept per grid."""
        geometry = dose.geometry
        values = _separable_sample(np.asarray(dose.dose_gy, dtype=np.float32), geometry, plane)
        if values is not None:
            return values
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
        # one axis at a time where the grids allow it (the same values: see _separable_sample)
        hu = _separable_sample(
            np.asarray(self.ct.hu), self.ct.geometry, plane, order=1, fill=-1000.0, float32_index=False
        )
        if hu is None:
            hu = sample_on_plane(self.ct.hu, self.ct.geometry, plane, order=1, fill=-1000.0)
        outlines = np.zeros((*hu.shape, 3), dtype=np.uint8)
        drawn = np.zeros(hu.shape, dtype=bool)
        for structure, colour in self.structures:
            mask_bool = np.asarray(structure.mask, dtype=bool)
            inside = _separable_sample(mask_bool, structure.geometry, plane, order=0, float32_index=False)
            if inside is None:
                mask = self._masks.get(id(structure))
                if mask is None:
                    mask = self._masks[id(structure)] = structure.mask.astype(np.float32)
                inside = sample_on_plane(mask, structure.geometry, plane, order=0) > 0.5
            edge = _edge(inside)
            outlines[edge] = colour
            drawn |= edge
        hit = (plane, hu, drawn, outlines)
        self._backdrops[key] = hit
        while len(self._backdrops) > self.keep:
            self._backdrops.popitem(last=False)
        return hit

    def _grey(
        self, view: str, position_mm: float, pixel_mm: float | None, window: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """The slice's grey level (float32, 0-1) in ``window`` and the plain CT picture (RGB uint8).

        As :func:`hbiview.render.colors.colourwash_rgb` computes them, with the outlines drawn on the
        picture; kept per slice and window.
        """
        from hbiview.render.style import window_range

        key = (view, round(float(position_mm), 3), pixel_mm, window)
        hit = self._greys.get(key)
        if hit is not None:
            self._greys.move_to_end(key)
            return hit
        hu = self._backdrop(view, position_mm, pixel_mm)[1]
        low, high = window_range(window)
        grey = np.clip((np.asarray(hu, dtype=np.float32) - low) / (high - low), 0.0, 1.0)
        base = np.repeat(((grey * 255.0 + 0.5).astype(np.uint8))[..., np.newaxis], 3, axis=-1)
        hit = self._greys[key] = (grey, base)
        while len(self._greys) > self.keep:
            self._greys.popitem(last=False)
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
        from hbiview.render.colors import dose_cmap, dose_range_gy
        from hbiview.render.style import isodose_color

        plane, _hu, drawn, outlines = self._backdrop(view, position_mm, pixel_mm)
        grey, base = self._grey(view, position_mm, pixel_mm, window)
        if dose is None:
            rgb = base.copy()
            rgb[drawn] = outlines[drawn]
            return rgb
        values = self._sample_dose(dose, plane)
        reference = float(reference_gy if reference_gy is not None else dose.max_gy) or 1.0
        clim_gy = clim_gy or dose_range_gy(reference, dose.max_gy, threshold_pct)
        span = (round(100 * clim_gy[0] / reference, 6), round(100 * clim_gy[1] / reference, 6))
        lut = self._luts.get(span)
        if lut is None:
            cmap = dose_cmap(*span)
            lut = self._luts[span] = np.asarray(cmap(np.arange(cmap.N)))[:, :3]
        rgb = _wash(base, grey, values, lut, clim_gy, reference * threshold_pct / 100.0, alpha=0.55)
        rgb[drawn] = outlines[drawn]
        levels = sorted(isodose_pct)
        if levels:
            # isodose lines: the pixels of each level's region that touch a pixel outside it (as _edge),
            # all levels at once: a pixel is on the line of level k when it is at or above level k and a
            # neighbour is not; the highest such level is drawn (the lines of higher levels lie on top)
            count = np.zeros(values.shape, dtype=np.uint8)
            for pct in levels:
                count += values >= reference * pct / 100.0
            line = _neighbour_min(count) < count
            colours = np.array([(np.asarray(isodose_color(p)) * 255 + 0.5).astype(np.uint8) for p in levels])
            rgb[line] = colours[count[line] - 1]
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


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB picture as PNG bytes (lossless: 8 bits per channel, no interlace).

    Written here rather than by Pillow: each row unfiltered (PNG filter type 0) and deflated by zlib at
    level 1. Pillow tries every row filter to pick the best, which on these slices costs four times the
    time for 3 % less data (about 5 ms for a 700 x 230 coronal slice, the most of a redraw's slice time).
    """
    image = np.ascontiguousarray(rgb, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"an RGB picture is (rows, columns, 3), got shape {image.shape}")
    height, width = image.shape[:2]
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # the leading 0 of each row: no filter
    rows[:, 1:] = image.reshape(height, 3 * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, truecolour, deflate
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)),
            _png_chunk(b"IEND", b""),
        )
    )


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
        # Python floats format faster than NumPy's scalars (the same text)
        points = " ".join(
            f"{px:.1f},{py:.1f}" for px, py in zip(x(dose).tolist(), y(percent).tolist(), strict=True)
        )
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
