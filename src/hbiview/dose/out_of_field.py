"""Fluence outside the jaws: head scatter, jaw transmission and head leakage.

The primary fluence (:mod:`hbiview.dose.fluence`) stops at the jaws. A linac also sends photons where the jaws
are closed, and these give the dose far from the field once the phantom's own scatter has died away:

* **head scatter** (the extra-focal source: photons scattered in the flattening filter and primary
  collimator) sees the jaw opening from a source about 100 mm wide, so its fluence behind the jaws falls off
  over several centimetres, a Gaussian blur of the opening (width :data:`HEAD_SCATTER_SIGMA_MM` in the
  isocentre plane) times :data:`HEAD_SCATTER_FRACTION`;
* **jaw transmission** (:data:`JAW_TRANSMISSION`) inside the largest jaw opening
  (:data:`MAX_FIELD_HALF_MM`);
* **head leakage** (:data:`HEAD_LEAKAGE`) everywhere beyond it.

Only the part outside the opening is added (``1 - opening`` times the terms above): inside the field the head
scatter is part of the calibrated output and of the head-scatter factor, not a second dose. The terms are
fitted to the tails of the measured 10 MV profiles (fields 50-200 mm, 15-200 mm deep, out to 60 mm beyond the
edge); see :data:`HEAD_SCATTER_FRACTION`. The same values serve every megavoltage beam (unverified for
others); a Co-60 unit has no flattening filter but a large source, so its numbers differ (not modelled
separately).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from hbiview.plans import Beam

__all__ = [
    "HEAD_LEAKAGE",
    "HEAD_SCATTER_FRACTION",
    "HEAD_SCATTER_SIGMA_MM",
    "JAW_TRANSMISSION",
    "MAX_FIELD_HALF_MM",
    "out_of_field_fluence",
]

#: Head-scatter (extra-focal) fluence relative to the primary, as seen through the jaw opening; fitted with
#: :data:`HEAD_SCATTER_SIGMA_MM` and :data:`JAW_TRANSMISSION` to the measured 10 MV profile tails (10-60 mm
#: beyond the 50 % edge, mean of the X and Y scans). Published extra-focal fractions of flattened beams are
#: 5-12 % of the primary fluence on the axis of large fields (e.g. Jaffray et al., Med Phys 20 (1993) 1417).
HEAD_SCATTER_FRACTION = 0.088
#: Width (mm, isocentre plane) of the head-scatter fall-off behind a jaw: an extra-focal source of about
#: 20 mm sigma at the flattening filter, magnified about 3 times by the jaw's position between it and the
#: isocentre plane.
HEAD_SCATTER_SIGMA_MM = 60.0
#: Fraction of the primary fluence that passes a closed jaw (typical 0.5-1 %; IEC 60601-2-1 allows 2 %).
JAW_TRANSMISSION = 0.0005
#: Half side (mm, isocentre plane) of the largest jaw opening: within it the jaws shield, beyond it the
#: primary collimator and head shielding do.
MAX_FIELD_HALF_MM = 200.0
#: Head leakage beyond the largest field, relative to the primary fluence on the axis: IEC 60601-2-1 limits
#: the leakage to 0.1 % on average (0.2 % at most) of the dose on the axis; 0.05 % is typical today.
HEAD_LEAKAGE = 0.0005


def _opening(x_mm: np.ndarray, half_mm: float, sigma_mm: float, centre_mm: float = 0.0) -> np.ndarray:
    """A jaw pair (half opening ``half_mm`` about ``centre_mm``) seen through a Gaussian blur ``sigma_mm``."""
    s = np.sqrt(2.0) * sigma_mm
    x = x_mm - centre_mm  # x - 0.0 is x exactly: symmetric jaws give the same bits as before
    return 0.5 * (erf((x + half_mm) / s) - erf((x - half_mm) / s))


def out_of_field_fluence(beam: Beam, u_mm: np.ndarray, v_mm: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """Fluence outside the jaw opening (head scatter, jaw transmission, leakage), relative to the primary.

    Parameters
    ----------
    beam
        The field (jaws ``field_mm`` about ``field_offset_mm``: the head scatter seen through the opening is
        centred on the opening).
    u_mm, v_mm
        Pixel centres (mm, isocentre plane) along the field's x and y axes.
    opening
        ``(len(v_mm), len(u_mm))`` primary fluence of the open jaws (1 inside, 0 behind the jaws), which the
        terms are added around.

    Returns
    -------
    numpy.ndarray
        ``(len(v_mm), len(u_mm))`` float64 fluence to add to the primary.
    """
    hx, hy = beam.field_mm[0] / 2, beam.field_mm[1] / 2
    cx, cy = beam.field_offset_mm
    head = (
        _opening(u_mm, hx, HEAD_SCATTER_SIGMA_MM, cx)[None, :]
        * _opening(v_mm, hy, HEAD_SCATTER_SIGMA_MM, cy)[:, None]
    )
    within = (np.abs(u_mm)[None, :] <= MAX_FIELD_HALF_MM) & (np.abs(v_mm)[:, None] <= MAX_FIELD_HALF_MM)
    floor = np.where(within, JAW_TRANSMISSION, HEAD_LEAKAGE)
    closed = np.clip(1.0 - opening, 0.0, 1.0)
    return closed * (HEAD_SCATTER_FRACTION * head + floor)
