"""Beam qualities (TPR20,10) and fluence parameters of hbiview's photon beams (``data/beam_quality.csv``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from hbiview.dose.kernel import PencilKernel, kernel_for_tpr
from hbiview.errors import PlanError

__all__ = ["BeamQuality", "beam_quality", "calibration_gy_per_unit", "kernel_for_energy"]


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


@lru_cache(maxsize=16)
def calibration_gy_per_unit(energy: str) -> float:
    """Kernel-units to Gy factor: one unit of beam weight gives 1 Gy at dmax, 10 x 10 cm, SSD 1000 mm.

    This is the usual monitor-unit calibration; it makes beam weights comparable between energies. The
    field-size dependence of the output (phantom scatter) comes from the kernel itself.
    """
    kernel = kernel_for_energy(energy)
    depths = np.arange(2.0, 61.0, 1.0)
    axis = [
        kernel.square_field_axis(z, 100.0 * (1000.0 + z) / 1000.0) * (1000.0 / (1000.0 + z)) ** 2
        for z in depths
    ]
    return float(1.0 / max(axis))
