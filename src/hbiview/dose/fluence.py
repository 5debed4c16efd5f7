"""Primary fluence in the isocentre plane: jaws, blocks, the primary collimator and off-axis horns.

Every term is a function of its own so that engines (and further terms) can combine them:

* :func:`jaw_fluence`: the jaw pair in each direction blurred by the focal spot, averaged over each pixel
  analytically (an edge between two pixel centres gives the pixel its covered fraction, so the 50 % width
  of a field does not move with the grid);
* :func:`primary_collimator_transmission`: the round primary collimator near the target, which limits
  every field to a circle (radius and penumbra fitted to the measured 400 x 400 mm diagonals);
* :func:`horn_shape`: the radial shape of the off-axis rise of a flattened beam;
* :func:`polygon_coverage` and the blocks.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.special import erf, erfc

from hbiview.plans import Beam, Block

__all__ = [
    "fluence_map",
    "horn_shape",
    "jaw_fluence",
    "pixel_edge_profile",
    "polygon_coverage",
    "primary_collimator_transmission",
]


def _edge_profile(x_mm: np.ndarray, half_width_mm: float, sigma_mm: float) -> np.ndarray:
    """A jaw pair blurred by a Gaussian source of width ``sigma_mm``: 1 inside, 0 outside (point values)."""
    s = np.sqrt(2.0) * max(sigma_mm, 1e-6)
    return 0.5 * (erf((x_mm + half_width_mm) / s) - erf((x_mm - half_width_mm) / s))


def _erf_integral(t_mm: np.ndarray, s_mm: float) -> np.ndarray:
    """An antiderivative of ``0.5 erf(t / s)``: ``0.5 (t erf(t/s) + s exp(-(t/s)^2) / sqrt(pi))``."""
    return 0.5 * (t_mm * erf(t_mm / s_mm) + s_mm / np.sqrt(np.pi) * np.exp(-((t_mm / s_mm) ** 2)))


def pixel_edge_profile(
    x_mm: np.ndarray, half_width_mm: float, sigma_mm: float, pixel_mm: float, centre_mm: float = 0.0
) -> np.ndarray:
    """A blurred jaw pair averaged over pixels of width ``pixel_mm`` centred at ``x_mm`` (exact integral).

    Parameters
    ----------
    x_mm
        Pixel centres (mm, isocentre plane).
    half_width_mm
        Half the jaw opening (mm); the jaws lie at ``centre_mm - half_width_mm`` and
        ``centre_mm + half_width_mm``.
    centre_mm
        Centre of the opening (mm, isocentre plane): 0 for symmetric jaws; asymmetric jaws (an opening from
        ``x1`` to ``x2``) have ``centre_mm = (x1 + x2) / 2`` and ``half_width_mm = (x2 - x1) / 2``.
    sigma_mm
        Gaussian width of the focal spot projected to the isocentre plane (mm).
    pixel_mm
        Pixel width (mm); 0 gives point values.

    Returns
    -------
    numpy.ndarray
        Mean fluence over each pixel, in [0, 1]; sums (times ``pixel_mm``) to the jaw opening.
    """
    # relative to the opening's centre (x - 0.0 is x exactly: symmetric jaws give the same bits as before)
    x = np.asarray(x_mm, dtype=np.float64) - float(centre_mm)
    if pixel_mm <= 1e-9:
        return _edge_profile(x, half_width_mm, sigma_mm)
    s = np.sqrt(2.0) * max(sigma_mm, 1e-6)
    a = pixel_mm / 2.0

    def pair(t: np.ndarray) -> np.ndarray:  # antiderivative of the jaw pair
        return _erf_integral(t + half_width_mm, s) - _erf_integral(t - half_width_mm, s)

    return np.clip((pair(x + a) - pair(x - a)) / pixel_mm, 0.0, 1.0)


def jaw_fluence(beam: Beam, u_mm: np.ndarray, v_mm: np.ndarray, source_sigma_mm: float) -> np.ndarray:
    """Fluence through the jaws on a regular grid, each pixel the mean over its area.

    The jaws are at :meth:`hbiview.plans.Beam.jaw_edges_mm` (asymmetric when ``field_offset_mm`` is set).

    Returns
    -------
    numpy.ndarray
        ``(len(v_mm), len(u_mm))`` float64, 1 inside the field.
    """
    du = float(u_mm[1] - u_mm[0]) if len(u_mm) > 1 else 0.0
    dv = float(v_mm[1] - v_mm[0]) if len(v_mm) > 1 else 0.0
    (fx_mm, fy_mm), (cx_mm, cy_mm) = beam.field_mm, beam.field_offset_mm
    fx = pixel_edge_profile(u_mm, fx_mm / 2, source_sigma_mm, abs(du), cx_mm)
    fy = pixel_edge_profile(v_mm, fy_mm / 2, source_sigma_mm, abs(dv), cy_mm)
    return fy[:, None] * fx[None, :]


def primary_collimator_transmission(
    u_mm: np.ndarray, v_mm: np.ndarray, radius_mm: float, sigma_mm: float
) -> np.ndarray:
    """Transmission of the round primary collimator (a circle of ``radius_mm`` at the isocentre plane).

    The primary collimator sits a few centimetres below the target, so its edge is blurred much more than
    the jaws' (the focal spot and the flattening filter's scatter seen through it are magnified about ten
    times to the isocentre plane): a Gaussian edge of ``sigma_mm``. ``radius_mm <= 0`` means no limit.

    Returns
    -------
    numpy.ndarray
        ``(len(v_mm), len(u_mm))`` float64 in [0, 1].
    """
    if radius_mm <= 0:
        return np.ones((len(v_mm), len(u_mm)))
    r = np.hypot(np.asarray(u_mm, float)[None, :], np.asarray(v_mm, float)[:, None])
    return 0.5 * erfc((r - radius_mm) / (np.sqrt(2.0) * max(sigma_mm, 1e-6)))


def horn_shape(u_mm: np.ndarray, v_mm: np.ndarray, horn_radius_mm: float) -> np.ndarray:
    """Radial shape ``q(r) = (min(r, horn_radius_mm) / 100 mm)^2`` of a flattened beam's off-axis rise.

    The fluence is ``1 + h q(r)`` with ``h`` from the beam quality (smaller with depth). The rise stops at
    ``horn_radius_mm`` (isocentre plane), fitted to the measured 400 x 400 mm diagonals.
    """
    r = np.hypot(np.asarray(u_mm, float)[None, :], np.asarray(v_mm, float)[:, None])
    r = np.minimum(r, horn_radius_mm)
    return (r / 100.0) ** 2


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
    primary_radius_mm: float = 0.0,
    primary_sigma_mm: float = 0.0,
    collimator: np.ndarray | None = None,
) -> np.ndarray:
    """Relative primary fluence of ``beam`` on a grid of the isocentre plane (collimator frame).

    Parameters
    ----------
    beam
        The field: jaws ``field_mm`` and ``blocks``.
    u_mm, v_mm
        Pixel centres (mm at 1000 mm from the source) along the field's x and y axes (regular).
    source_sigma_mm
        Gaussian width of the focal spot projected to the isocentre plane (mm); makes the geometric
        penumbra.
    horn_per_100mm2
        Off-axis fluence rise of a flattened beam: fluence ``1 + h q(r)`` (:func:`horn_shape`).
    horn_radius_mm
        Radius (mm, isocentre plane) beyond which the horn stays flat.
    primary_radius_mm, primary_sigma_mm
        The round primary collimator (:func:`primary_collimator_transmission`); radius 0: none.
    collimator
        Its transmission on this grid if already computed (the dose engine keeps it per grid).

    Returns
    -------
    numpy.ndarray
        ``(len(v_mm), len(u_mm))`` float64 fluence, 1 on the axis of an open field.
    """
    fluence = jaw_fluence(beam, u_mm, v_mm, source_sigma_mm)
    if beam.blocks:
        step = float(u_mm[1] - u_mm[0]) if len(u_mm) > 1 else 1.0
        for block in beam.blocks:
            fluence *= _block_transmission(block, u_mm, v_mm, source_sigma_mm / step)
    if primary_radius_mm > 0:
        if collimator is None:
            collimator = primary_collimator_transmission(u_mm, v_mm, primary_radius_mm, primary_sigma_mm)
        fluence *= collimator
    if beam.transmission_map is not None:  # compensator (hbiview.dose.compensation): multiplies the fluence
        fluence *= beam.transmission_map.at(u_mm, v_mm)
    if horn_per_100mm2:
        fluence *= 1.0 + horn_per_100mm2 * horn_shape(u_mm, v_mm, horn_radius_mm)
    return fluence


def _block_transmission(block: Block, u_mm: np.ndarray, v_mm: np.ndarray, sigma_px: float) -> np.ndarray:
    cover = polygon_coverage(block.vertices_mm, u_mm, v_mm)
    if sigma_px > 0.05:
        cover = ndimage.gaussian_filter(cover, sigma_px, mode="nearest")
    return 1.0 - (1.0 - block.transmission) * cover
