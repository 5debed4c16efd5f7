"""Beam qualities (TPR20,10) and fluence parameters of hbiview's photon beams (``data/beam_quality.csv``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy import optimize
from scipy.special import erf

from hbiview.dose.kernel import PencilKernel, kernel_for_tpr
from hbiview.errors import PlanError

__all__ = [
    "BeamQuality",
    "beam_quality",
    "calibration_gy_per_unit",
    "head_scatter_factor",
    "kernel_for_energy",
]


@dataclass(frozen=True)
class BeamQuality:
    """One beam energy's model parameters.

    Parameters
    ----------
    energy
        ``"Co60"``, ``"6MV"``, ``"10MV"``, ``"15MV"`` or ``"18MV"``.
    tpr20_10
        Beam-quality index.
    source_sigma_mm
        Gaussian focal-spot width projected to the isocentre plane (mm).
    horn_per_100mm2, horn_change_per_100mm, horn_radius_mm
        Off-axis fluence rise of a flattened beam: fluence ``1 + h (r / 100 mm)^2`` (``r`` in the isocentre
        plane, at most ``horn_radius_mm``) with
        ``h = horn_per_100mm2 + horn_change_per_100mm * depth / 100 mm``
        (horns fade with depth as the off-axis beam is softer).
    contamination_gy, contamination_depth_mm, contamination_sigma_mm
        Electron contamination: dose ``contamination_gy`` per unit weight at the surface of a very large field
        (SSD 1000 mm), falling as ``exp(-depth / contamination_depth_mm)`` and spread laterally by a Gaussian
        of ``contamination_sigma_mm`` (isocentre plane), so that small fields receive less of it.
    primary_radius_mm, primary_sigma_mm
        The round primary collimator: radius (mm at the isocentre plane, 1000 mm from the source) of the
        circle that limits every field, and the Gaussian width of its edge (mm); radius 0: no limit.
    head_scatter_fraction, head_scatter_sigma_mm
        Head scatter: an extra-focal source of this fraction of the focal fluence and Gaussian width (mm,
        isocentre plane) seen through the jaws; see :func:`head_scatter_factor`.
    """

    energy: str
    tpr20_10: float
    source_sigma_mm: float
    horn_per_100mm2: float
    horn_change_per_100mm: float
    horn_radius_mm: float
    contamination_gy: float = 0.0
    contamination_depth_mm: float = 10.0
    contamination_sigma_mm: float = 50.0
    primary_radius_mm: float = 0.0
    primary_sigma_mm: float = 0.0
    head_scatter_fraction: float = 0.0
    head_scatter_sigma_mm: float = 50.0


@lru_cache(maxsize=1)
def _table() -> dict[str, BeamQuality]:
    ref = resources.files("hbiview") / "data" / "beam_quality.csv"
    lines = [ln for ln in ref.read_text().splitlines() if ln and not ln.startswith("#")]
    out = {}
    for row in csv.DictReader(lines):
        out[row["energy"]] = BeamQuality(
            row["energy"],
            float(row["tpr20_10"]),
            float(row["source_sigma_mm"]),
            float(row["horn_per_100mm2"]),
            float(row["horn_change_per_100mm"]),
            float(row["horn_radius_mm"]),
            float(row["contamination_gy"]),
            float(row["contamination_depth_mm"]),
            float(row["contamination_sigma_mm"]),
            float(row["primary_radius_mm"]),
            float(row["primary_sigma_mm"]),
            float(row["head_scatter_fraction"]),
            float(row["head_scatter_sigma_mm"]),
        )
    return out


def beam_quality(energy: str) -> BeamQuality:
    """The model parameters of ``energy``.

    Raises
    ------
    PlanError
        For an energy hbiview does not model.
    """
    try:
        return _table()[energy]
    except KeyError:
        raise PlanError(f"energy {energy!r} is unknown; use one of {', '.join(_table())}") from None


@lru_cache(maxsize=16)
def kernel_for_energy(energy: str) -> PencilKernel:
    """The pencil kernel reproducing the TPR20,10 of ``energy`` (see :func:`kernel_for_tpr`)."""
    return kernel_for_tpr(beam_quality(energy).tpr20_10)


def head_scatter_factor(energy: str, field_mm: tuple[float, float]) -> float:
    """Head-scatter (collimator-scatter) factor Sc of a jaw opening, 1 for 100 x 100 mm.

    Photons scattered in the flattening filter and primary collimator come from an extra-focal source
    (fraction ``f`` of the focal fluence, Gaussian of width ``s`` at the isocentre plane); the jaws let
    through the part ``erf(X / (2 sqrt2 s)) erf(Y / (2 sqrt2 s))`` of it on the central axis, so

        Sc(X, Y) = (1 + f erf(X / (2 sqrt2 s)) erf(Y / (2 sqrt2 s))) / (1 + f erf(100 / (2 sqrt2 s))^2).

    It depends on the jaws only (blocks sit below the head). Parameters: ``data/beam_quality.csv``.
    Asymmetric jaws use the opening's size only: where the opening sits (``Beam.field_offset_mm``) is not
    modelled, a small effect (the extra-focal source is wide, so an opening of the same size sees nearly
    the same part of it wherever it lies within the flattened region).

    Parameters
    ----------
    energy
        Beam energy.
    field_mm
        Jaw opening ``(X, Y)`` (mm at 1000 mm from the source).

    Returns
    -------
    float
        Sc relative to the 100 x 100 mm field.
    """
    quality = beam_quality(energy)
    f = quality.head_scatter_fraction
    if f <= 0:
        return 1.0
    scale = 2.0 * np.sqrt(2.0) * quality.head_scatter_sigma_mm

    def seen(x_mm: float, y_mm: float) -> float:
        return float(erf(max(x_mm, 0.0) / scale) * erf(max(y_mm, 0.0) / scale))

    return (1.0 + f * seen(*field_mm)) / (1.0 + f * seen(100.0, 100.0))


@lru_cache(maxsize=16)
def calibration_gy_per_unit(energy: str) -> float:
    """Kernel-units to Gy factor: one unit of beam weight gives 1 Gy at dmax, 10 x 10 cm, SSD 1000 mm.

    This is the usual monitor-unit calibration; it makes beam weights comparable between energies. The
    field-size dependence of the output comes from the kernel (phantom scatter) and from
    :func:`head_scatter_factor` (1 for this field). The maximum is that of the whole dose on the axis: the
    photons' (calibrated here) plus the electron contamination's (``contamination_gy`` per unit, spread
    laterally as in the engine: the part ``erf(50 / (sqrt2 sigma))^2`` of it reaches the axis of a
    100 x 100 mm field), both with the inverse square.
    """
    quality = beam_quality(energy)
    kernel = kernel_for_energy(energy)
    depths = np.arange(0.0, 61.0, 0.5)
    photons = np.array(
        [kernel.square_field_axis(z, 100.0 * (1000.0 + z) / 1000.0) for z in depths], dtype=np.float64
    )
    on_axis = float(erf(50.0 / (np.sqrt(2.0) * quality.contamination_sigma_mm))) ** 2
    electrons = quality.contamination_gy * on_axis * np.exp(-depths / quality.contamination_depth_mm)
    inverse_square = (1000.0 / (1000.0 + depths)) ** 2

    def excess(calibration: float) -> float:
        return float(np.max((calibration * photons + electrons) * inverse_square)) - 1.0

    high = 1.0 / float(np.max(photons * inverse_square))
    if excess(0.0) >= 0.0:  # contamination alone would exceed 1 Gy: not a physical parameter set
        raise ValueError(f"{energy}: electron contamination alone gives {excess(0.0) + 1:.3f} Gy per unit")
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-12))
