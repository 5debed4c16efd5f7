"""Colour maps for dose and dose differences, and the CT-plus-colourwash blend used on every plane.

The dose colour map is built from the fixed isodose colours (:func:`hbiview.render.style.isodose_color`),
so the colourwash at 95 % of the prescription has the colour of the 95 % isodose line and surface.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from hbiview.render.style import _ISODOSE_COLORS, window_range

__all__ = ["colourwash_rgb", "difference_cmap", "dose_cmap", "dose_range_gy"]


def dose_cmap(vmin_pct: float, vmax_pct: float) -> Any:
    """A matplotlib colour map for doses from ``vmin_pct`` to ``vmax_pct`` percent of the prescription.

    Each tabulated isodose level inside the range keeps its fixed colour; above the highest tabulated
    level (110 %) the map runs on to white.
    """
    from matplotlib.colors import LinearSegmentedColormap

    nodes = sorted(_ISODOSE_COLORS.items())
    top = max(vmax_pct, nodes[-1][0] + 1.0)
    nodes.append((top, (1.0, 0.85, 0.95)))
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


def colourwash_rgb(
    ct_hu: npt.ArrayLike,
    window: str | tuple[float, float],
    values: npt.ArrayLike | None = None,
    cmap: Any = None,
    clim: tuple[float, float] | None = None,
    threshold: float | None = None,
    alpha: float = 0.5,
    symmetric_threshold: bool = False,
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
        rgb[mask] = (1.0 - alpha) * rgb[mask] + alpha * colour[mask]
    return (rgb * 255.0 + 0.5).astype(np.uint8)
