"""Primary fluence in the isocentre plane: jaws, blocks, source-size penumbra and off-axis horns."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.special import erf

from hbiview.plans import Beam, Block

__all__ = ["fluence_map", "polygon_coverage"]


def _edge_profile(x_mm: np.ndarray, half_width_mm: float, sigma_mm: float) -> np.ndarray:
    """A jaw pair blurred by a Gaussian source of width ``sigma_mm``: 1 inside, 0 outside."""
    s = np.sqrt(2.0) * max(sigma_mm, 1e-6)
    return 0.5 * (erf((x_mm + half_width_mm) / s) - erf((x_mm - half_width_mm) / s))


def polygon_coverage(
    vertices_mm: tuple[tuple[float, float], ...], u_mm: np.ndarray, v_mm: np.ndarray, supersample: int = 4
) -> np.ndarray:
    """Fraction of each pixel (centres ``u_mm`` x ``v_mm``, regular) inside a polygon (even-odd rule).

    Returns
    -------
    numpy.ndarray
        ``(len(v_mm), len(u_mm))`` fractions in [0, 1].
    """
    du = u_mm[1] - u_mm[0] if len(u_mm) > 1 else 1.0
    dv = v_mm[1] - v_mm[0] if len(v_mm) > 1 else 1.0
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    su = (u_mm[:, None] + offsets[None, :] * du).ravel()
    sv = (v_mm[:, None] + offsets[None, :] * dv).ravel()
    uu, vv = np.meshgrid(su, sv)
    inside = np.zeros(uu.shape, dtype=bool)
    pts = np.asarray(vertices_mm, dtype=float)
    for (x1, y1), (x2, y2) in zip(pts, np.roll(pts, -1, axis=0)):
        crosses = (y1 > vv) != (y2 > vv)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (vv - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (uu < x_at)
    cover = inside.reshape(len(v_mm), supersample, len(u_mm), supersample).mean(axis=(1, 3))
    return cover


def fluence_map(
    beam: Beam,
    u_mm: np.ndarray,
    v_mm: np.ndarray,
    *,
    source_sigma_mm: float,
    horn_per_100mm2: float = 0.0,
    horn_radius_mm: float = 200.0,
) -> np.ndarray:
    """Relative primary fluence of ``beam`` on a grid of the isocentre plane (collimator frame).

    Parameters
    ----------
    beam
        The field: jaws ``field_mm`` and ``blocks``.
    u_mm, v_mm
        Pixel centres (mm at 1000 mm from the source) along the field's x and y axes.
    source_sigma_mm
        Gaussian width of the focal spot projected to the isocentre plane (mm); makes the geometric
        penumbra.
    horn_per_100mm2
        Off-axis fluence rise of a flattened beam: fluence ``1 + h (r / 100 mm)^2`` up to ``horn_radius_mm``.
    horn_radius_mm
        Radius (mm, isocentre plane) beyond which the horn stays flat.

    Returns
    -------
    numpy.ndarray
        ``(len(v_mm), len(u_mm))`` float64 fluence, 1 on the axis of an open field.
    """
    fx = _edge_profile(u_mm, beam.field_mm[0] / 2, source_sigma_mm)
    fy = _edge_profile(v_mm, beam.field_mm[1] / 2, source_sigma_mm)
    fluence = fy[:, None] * fx[None, :]
    if beam.blocks:
        step = float(u_mm[1] - u_mm[0]) if len(u_mm) > 1 else 1.0
        for block in beam.blocks:
            fluence *= _block_transmission(block, u_mm, v_mm, source_sigma_mm / step)
    if beam.transmission_map is not None:  # compensator (hbiview.dose.compensation): multiplies the fluence
        fluence *= beam.transmission_map.at(u_mm, v_mm)
    if horn_per_100mm2:
        r = np.minimum(np.hypot(u_mm[None, :], v_mm[:, None]), horn_radius_mm)
        fluence *= 1.0 + horn_per_100mm2 * (r / 100.0) ** 2
    return fluence


def _block_transmission(block: Block, u_mm: np.ndarray, v_mm: np.ndarray, sigma_px: float) -> np.ndarray:
    cover = polygon_coverage(block.vertices_mm, u_mm, v_mm)
    if sigma_px > 0.05:
        cover = ndimage.gaussian_filter(cover, sigma_px, mode="nearest")
    return 1.0 - (1.0 - block.transmission) * cover
