"""Colour maps for dose and dose differences, and the CT-plus-colourwash blend used on every plane.

The dose colour map is built from the fixed isodose colours (:func:`hbiview.render.style.isodose_color`),
so the colourwash at 95 % of the prescription has the colour of the 95 % isodose line and surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hbiview.errors import InputError
from hbiview.render.style import _HOT_COLORS, _ISODOSE_COLORS, window_range

__all__ = [
    "SCALES",
    "SharedScale",
    "colourwash_rgb",
    "difference_cmap",
    "dose_cmap",
    "dose_range_gy",
    "shared_dose_scale",
]

#: how several plans shown together share one colour scale (see :func:`shared_dose_scale`)
SCALES = ("auto", "gy", "percent")


def dose_cmap(vmin_pct: float, vmax_pct: float) -> Any:
    """A matplotlib colour map for doses from ``vmin_pct`` to ``vmax_pct`` percent of the prescription.

    Each tabulated isodose level inside the range keeps its fixed colour; above the highest tabulated
    level (110 %) the map runs through hot pink (120 %) and light pink (135 %) to white (150 % and
    above).
    """
    from matplotlib.colors import LinearSegmentedColormap

    nodes = sorted({**_ISODOSE_COLORS, **_HOT_COLORS}.items())
    if vmax_pct > nodes[-1][0]:
        nodes.append((float(vmax_pct), nodes[-1][1]))
    positions = np.array([level for level, _ in nodes])
    colours = np.array([colour for _, colour in nodes])
    # sample the piecewise-linear colour ramp in % at 256 points of [vmin, vmax]
    samples = np.linspace(vmin_pct, vmax_pct, 256)
    rgb = np.stack([np.interp(samples, positions, colours[:, c]) for c in range(3)], axis=1)
    return LinearSegmentedColormap.from_list("hbiview_dose", rgb, N=256)


def difference_cmap() -> Any:
    """Diverging colour map for dose differences (blue negative, white zero, red positive)."""
    import matplotlib

    return matplotlib.colormaps["RdBu_r"]


def dose_range_gy(
    prescription_gy: float, dose_max_gy: float, threshold_pct: float = 20.0
) -> tuple[float, float]:
    """Colour-scale range (Gy): from the colourwash threshold to at least 110 % of the prescription.

    Parameters
    ----------
    prescription_gy
        Prescribed total dose (Gy).
    dose_max_gy
        Highest dose to show (Gy); the scale extends to it when it exceeds 110 %.
    threshold_pct
        Lowest dose shown, percent of the prescription.
    """
    low = prescription_gy * threshold_pct / 100.0
    high = max(1.10 * prescription_gy, float(dose_max_gy))
    return low, high


@dataclass(frozen=True)
class SharedScale:
    """One colour scale for several plans shown side by side.

    Attributes
    ----------
    mode
        ``"gy"``: every panel coloured on the same absolute dose scale, isodose levels in percent of one
        common reference dose; ``"percent"``: every panel coloured in percent of its own plan's
        prescription, isodose levels in percent of that prescription.
    references_gy
        Per panel, the dose (Gy) that 100 % stands for (isodose levels, colour-map anchors, threshold).
    clims_gy
        Per panel, the dose range (Gy) mapped onto the colour map; in ``"gy"`` mode all equal.
    range_pct
        The colour map's range in percent of each panel's reference: the same colour map in every panel.
    bar_range
        Range of the one colour bar, in its unit (Gy or %).
    bar_label
        Title of the colour bar, with its unit.
    """

    mode: str
    references_gy: tuple[float, ...]
    clims_gy: tuple[tuple[float, float], ...]
    range_pct: tuple[float, float]
    bar_range: tuple[float, float]
    bar_label: str

    @property
    def common_reference(self) -> bool:
        """True when every panel's percentages refer to the same dose (isodose levels alike in Gy)."""
        return bool(np.allclose(self.references_gy, self.references_gy[0], rtol=1e-6, atol=0.0))

    def cmap(self) -> Any:
        """The colour map shared by every panel and the colour bar."""
        return dose_cmap(*self.range_pct)


def shared_dose_scale(
    prescriptions_gy: Sequence[float],
    max_doses_gy: Sequence[float],
    threshold_pct: float = 20.0,
    scale: str = "auto",
    dose_range_gy: tuple[float, float] | None = None,
) -> SharedScale:
    """The one colour scale of a comparison of plans, honest about what its bar means.

    Parameters
    ----------
    prescriptions_gy
        Prescribed total dose (Gy) of each plan.
    max_doses_gy
        Highest dose (Gy) of each plan.
    threshold_pct
        Lowest dose coloured, percent of the reference.
    scale
        ``"gy"``: one absolute scale in Gy; percent levels (isodoses, colour anchors) refer to the highest
        prescription, so equal doses have equal colours and lines in every panel. ``"percent"``: each plan
        coloured in percent of its own prescription, one bar in %. ``"auto"``: percent when the
        prescriptions differ (by more than 0.1 %), else Gy (then both are the same picture).
    dose_range_gy
        Explicit colour range (Gy), only with ``"gy"`` or ``"auto"`` (which then means Gy).

    Raises
    ------
    InputError
        For an unknown ``scale``, no plans, a prescription that is not positive, or a Gy range asked for
        with ``scale="percent"``.
    """
    if scale not in SCALES:
        raise InputError(f"colour scale {scale!r}: choose one of {', '.join(SCALES)}")
    references = [float(p) for p in prescriptions_gy]
    maxima = [float(m) for m in max_doses_gy]
    if not references or len(references) != len(maxima) or min(references) <= 0:
        raise InputError(f"a shared colour scale needs positive prescriptions, got {references}")
    if scale == "auto":
        differ = not np.allclose(references, references[0], rtol=1e-3, atol=0.0)
        scale = "percent" if differ and dose_range_gy is None else "gy"
    n = len(references)
    if scale == "percent":
        if dose_range_gy is not None:
            raise InputError("a colour range in Gy (dose_range_gy) cannot be shown on a percent scale")
        # top: 110 % of the prescription, or the highest dose if above, in each plan's own percent
        high_pct = max(100.0 * _top_gy(r, m) / r for r, m in zip(references, maxima, strict=True))
        range_pct = (float(threshold_pct), max(high_pct, float(threshold_pct) + 1.0))
        clims = tuple((range_pct[0] * r / 100.0, range_pct[1] * r / 100.0) for r in references)
        label = "dose (% of each plan's prescription)" if n > 1 else "dose (% of prescription)"
        return SharedScale("percent", tuple(references), clims, range_pct, range_pct, label)
    reference = max(references)
    if dose_range_gy is not None:
        low, high = (float(v) for v in dose_range_gy)
    else:
        low = reference * threshold_pct / 100.0
        high = max(max(_top_gy(reference, m) for m in maxima), low * 1.01)
    if not 0 <= low < high:
        raise InputError(f"colour range {low:g}-{high:g} Gy: the lower end must be below the upper")
    range_pct = (100.0 * low / reference, 100.0 * high / reference)
    return SharedScale("gy", (reference,) * n, ((low, high),) * n, range_pct, (low, high), "dose (Gy)")


def _top_gy(reference_gy: float, dose_max_gy: float) -> float:
    """Top of a colour scale (Gy): 110 % of the reference, or the maximum dose when higher."""
    return max(1.10 * reference_gy, float(dose_max_gy))


def colourwash_rgb(
    ct_hu: npt.ArrayLike,
    window: str | tuple[float, float],
    values: npt.ArrayLike | None = None,
    cmap: Any = None,
    clim: tuple[float, float] | None = None,
    threshold: float | None = None,
    alpha: float = 0.5,
    symmetric_threshold: bool = False,
    ct_floor: float = 0.5,
) -> np.ndarray:
    """CT in grey with a translucent colourwash on top, as RGB uint8.

    Parameters
    ----------
    ct_hu
        CT values (HU), any shape.
    window
        Window preset name or ``(level, width)`` HU.
    values
        Dose or dose difference, same shape; ``None`` for plain CT.
    cmap
        matplotlib colour map for ``values``.
    clim
        Range of ``values`` mapped onto ``cmap``.
    threshold
        Pixels with ``values`` below it (``|values|`` below it when ``symmetric_threshold``) show plain CT.
    alpha
        Opacity of the colourwash (0-1).
    symmetric_threshold
        Use ``|values|`` for the threshold (difference maps).
    ct_floor
        Under the colourwash the CT's grey scale is compressed into ``[ct_floor, 1]``: a colour laid over
        black lung would otherwise come out dark, and a hot lung (magenta) would look like a cold dose
        (violet). The CT still shows through, with less contrast; outside the wash it is unchanged.

    Returns
    -------
    numpy.ndarray
        ``ct_hu.shape + (3,)`` uint8.
    """
    low, high = window_range(window)
    grey = np.clip((np.asarray(ct_hu, dtype=np.float32) - low) / (high - low), 0.0, 1.0)
    rgb = np.repeat(grey[..., np.newaxis], 3, axis=-1)
    if values is not None and cmap is not None and clim is not None:
        vals = np.asarray(values, dtype=np.float32)
        norm = np.clip((vals - clim[0]) / max(clim[1] - clim[0], 1e-12), 0.0, 1.0)
        colour = np.asarray(cmap(norm))[..., :3]
        shown = np.abs(vals) if symmetric_threshold else vals
        mask = shown >= (threshold if threshold is not None else clim[0])
        under = ct_floor + (1.0 - ct_floor) * rgb[mask]
        rgb[mask] = (1.0 - alpha) * under + alpha * colour[mask]
    return (rgb * 255.0 + 0.5).astype(np.uint8)
