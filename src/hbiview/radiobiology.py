"""Fractionation effects (linear-quadratic BED/EQD2) and published clinical references.

The linear-quadratic model: a dose ``D`` given in fractions of ``d`` has the biologically effective dose
``BED = D (1 + d / (alpha/beta))`` and the equivalent dose in 2 Gy fractions
``EQD2 = D (d + alpha/beta) / (2 + alpha/beta)``. Per-voxel conversions apply these to each dose bin of a
DVH (each voxel receives its own dose per fraction), which differs from converting the mean dose.

The references (:func:`clinical_references`) come from ``hbiview/data/clinical_references.toml``, which
names its sources: the single-fraction pneumonitis figures of Van Dyk et al. (onset at a lung-corrected
dose of 7.5 Gy, 5 % incidence at 8.2 Gy) and the default alpha/beta values (lung 3 Gy, marrow 10 Gy).
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from hbiview.dosevolume import DVH
from hbiview.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "PneumonitisAssessment",
    "alpha_beta_for",
    "assess_lung_dose",
    "bed",
    "clinical_references",
    "default_alpha_beta",
    "eqd2",
    "eqd2_dvh",
    "mean_bed",
    "mean_eqd2",
    "structure_kind",
]

#: Structure kinds recognised from names (case-insensitive regular expressions), in order of precedence.
KIND_PATTERNS: dict[str, str] = {
    "marrow": r"marrow|medulla[_ ]?ossium|\bbm\b|red[_ ]?bone",
    "lung": r"lung|pulm",
}


@functools.cache
def clinical_references() -> dict[str, Any]:
    """The clinical reference table shipped with hbiview (parsed TOML, with sources)."""
    text = resources.files("hbiview").joinpath("data/clinical_references.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def default_alpha_beta() -> dict[str, float]:
    """Default alpha/beta (Gy) by structure kind: ``{"lung": 3.0, "marrow": 10.0}``."""
    table = clinical_references()["alpha_beta_gy"]
    return {k: float(v) for k, v in table.items() if isinstance(v, (int, float))}


def _check_ab(alpha_beta_gy: npt.ArrayLike) -> np.ndarray:
    ab = np.asarray(alpha_beta_gy, dtype=float)
    if np.any(~(ab > 0)):
        raise InputError(f"alpha/beta must be positive (Gy), got {alpha_beta_gy!s}")
    return ab


def _lq_inputs(
    total_dose_gy: npt.ArrayLike, dose_per_fraction_gy: npt.ArrayLike, alpha_beta_gy: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total dose, dose per fraction and alpha/beta (Gy) as float arrays, alpha/beta checked first."""
    ab = _check_ab(alpha_beta_gy)
    return np.asarray(total_dose_gy, dtype=float), np.asarray(dose_per_fraction_gy, dtype=float), ab


def _scalar_or_array(out: np.ndarray) -> np.ndarray | float:
    """A 0-d result as a Python float, anything else as it is."""
    return float(out) if out.ndim == 0 else out


def bed(
    total_dose_gy: npt.ArrayLike, dose_per_fraction_gy: npt.ArrayLike, alpha_beta_gy: npt.ArrayLike
) -> np.ndarray | float:
    """Biologically effective dose ``D (1 + d / (alpha/beta))`` (Gy).

    Parameters
    ----------
    total_dose_gy
        Total dose ``D`` (Gy).
    dose_per_fraction_gy
        Dose per fraction ``d`` (Gy).
    alpha_beta_gy
        alpha/beta (Gy), positive.

    Examples
    --------
    >>> float(bed(8.0, 8.0, 3.0))
    29.333333333333332
    """
    total, d, ab = _lq_inputs(total_dose_gy, dose_per_fraction_gy, alpha_beta_gy)
    return _scalar_or_array(total * (1.0 + d / ab))


def eqd2(
    total_dose_gy: npt.ArrayLike, dose_per_fraction_gy: npt.ArrayLike, alpha_beta_gy: npt.ArrayLike
) -> np.ndarray | float:
    """Equivalent dose in 2 Gy fractions ``D (d + alpha/beta) / (2 + alpha/beta)`` (Gy).

    Parameters
    ----------
    total_dose_gy
        Total dose ``D`` (Gy).
    dose_per_fraction_gy
        Dose per fraction ``d`` (Gy).
    alpha_beta_gy
        alpha/beta (Gy), positive.

    Examples
    --------
    >>> float(eqd2(8.0, 8.0, 3.0))
    17.6
    """
    total, d, ab = _lq_inputs(total_dose_gy, dose_per_fraction_gy, alpha_beta_gy)
    return _scalar_or_array(total * (d + ab) / (2.0 + ab))


def structure_kind(name: str, mapping: Mapping[str, str] | None = None) -> str | None:
    """Kind of a structure (``"lung"``, ``"marrow"`` or ``None``) from its name.

    Parameters
    ----------
    name
        Structure name, e.g. ``"Lt Lung"``, ``"LUNG_L"``, ``"active_marrow"``.
    mapping
        User overrides, structure name (case-insensitive) -> kind; they win over the built-in patterns.
    """
    if mapping:
        lowered = {k.lower(): v for k, v in mapping.items()}
        if name.lower() in lowered:
            return lowered[name.lower()]
    for kind, pattern in KIND_PATTERNS.items():
        if re.search(pattern, name, flags=re.IGNORECASE):
            return kind
    return None


def alpha_beta_for(
    name: str,
    overrides: Mapping[str, float] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> float | None:
    """alpha/beta (Gy) for a structure: a user override by name or kind, else the default of its kind.

    Parameters
    ----------
    name
        Structure name.
    overrides
        ``{structure name or kind: alpha/beta Gy}``, e.g. ``{"lung": 4.0, "Heart": 2.5}``.
    kinds
        Name -> kind overrides passed to :func:`structure_kind`.

    Returns
    -------
    float or None
        ``None`` for structures of no known kind without an override.
    """
    kind = structure_kind(name, kinds)
    if overrides:
        lowered = {k.lower(): float(v) for k, v in overrides.items()}
        if name.lower() in lowered:
            return lowered[name.lower()]
        if kind is not None and kind in lowered:
            return lowered[kind]
    if kind is None:
        return None
    return default_alpha_beta().get(kind)


def _per_voxel(dvh: DVH, alpha_beta_gy: float, fn: Any) -> np.ndarray:
    edges = dvh.dose_gy
    return np.asarray(fn(edges, edges / dvh.fractions, alpha_beta_gy), dtype=float)


def eqd2_dvh(dvh: DVH, alpha_beta_gy: float) -> DVH:
    """The DVH with every voxel's dose converted to EQD2 (Gy), each with its own dose per fraction.

    EQD2 grows monotonically with dose, so the cumulative volume at ``eqd2(D)`` equals the volume at ``D``:
    the bin edges are mapped exactly (they are no longer evenly spaced). Mean, minimum and maximum are
    converted per voxel (the mean from the differential curve at bin centres).
    """
    _check_ab(alpha_beta_gy)
    edges = _per_voxel(dvh, alpha_beta_gy, eqd2)
    mapped = replace(
        dvh,
        name=dvh.name,
        dose_gy=edges,
        mean_gy=mean_eqd2(dvh, alpha_beta_gy),
        min_gy=float(eqd2(dvh.min_gy, dvh.min_gy / dvh.fractions, alpha_beta_gy)),
        max_gy=float(eqd2(dvh.max_gy, dvh.max_gy / dvh.fractions, alpha_beta_gy)),
        weighted_mean_gy=None,
        mean_square_gy2=None,
    )
    return mapped


def mean_bed(dvh: DVH, alpha_beta_gy: float) -> float:
    """Mean of the per-voxel BED (Gy): ``mean(D) + mean(D^2) / (n alpha/beta)``.

    The same as :meth:`hbiview.dosevolume.DVH.mean_bed_gy`, with alpha/beta checked here.
    """
    return dvh.mean_bed_gy(float(_check_ab(alpha_beta_gy)))


def mean_eqd2(dvh: DVH, alpha_beta_gy: float) -> float:
    """Mean of the per-voxel EQD2 (Gy): the mean BED times ``alpha/beta / (2 + alpha/beta)``."""
    return dvh.mean_eqd2_gy(float(_check_ab(alpha_beta_gy)))


@dataclass(frozen=True)
class PneumonitisAssessment:
    """Where a plan's mean lung dose stands against the single-fraction pneumonitis figures.

    Attributes
    ----------
    mean_lung_dose_gy
        Mean lung dose of the plan (Gy, total course).
    fractions
        Number of fractions of the plan.
    onset_gy, incidence_5_percent_gy
        Van Dyk et al. figures (lung-corrected single-fraction dose, Gy).
    category
        ``"below_onset"``, ``"between_onset_and_5_percent"``, ``"at_or_above_5_percent"``, or
        ``"not_applicable"`` (fractionated plans: the figures are for single fractions).
    text
        One plain sentence for reports.
    heterogeneity_corrected
        Whether the dose was computed with lung density correction (``None`` if unknown); the figures
        are for corrected lung doses.
    source
        Citation.
    """

    mean_lung_dose_gy: float
    fractions: int
    onset_gy: float
    incidence_5_percent_gy: float
    category: str
    text: str
    heterogeneity_corrected: bool | None
    source: str


def assess_lung_dose(
    mean_lung_dose_gy: float, fractions: int = 1, *, heterogeneity_corrected: bool | None = None
) -> PneumonitisAssessment:
    """State where a mean lung dose stands against Van Dyk's single-fraction pneumonitis figures.

    Parameters
    ----------
    mean_lung_dose_gy
        Mean dose to both lungs (Gy, total course).
    fractions
        Number of fractions; the published figures apply to single-fraction treatment only.
    heterogeneity_corrected
        Whether the dose includes lung density correction (the figures are lung-corrected doses).

    Returns
    -------
    PneumonitisAssessment
        The category and a sentence for the report.
    """
    ref = clinical_references()["pneumonitis_single_fraction"]
    onset = float(ref["onset_corrected_lung_dose_gy"])
    five = float(ref["incidence_5_percent_gy"])
    source = str(ref["source"])
    mld = float(mean_lung_dose_gy)
    if fractions != 1:
        category = "not_applicable"
        text = (
            f"Mean lung dose {mld:.2f} Gy in {fractions} fractions: the pneumonitis figures of "
            f"Van Dyk et al. (onset {onset:g} Gy, 5 % incidence {five:g} Gy) are for single fractions "
            "and are not compared."
        )
    else:
        if mld < onset:
            category = "below_onset"
            where = f"below the pneumonitis onset dose of {onset:g} Gy"
        elif mld < five:
            category = "between_onset_and_5_percent"
            where = f"above the onset dose of {onset:g} Gy and below the 5 % incidence dose of {five:g} Gy"
        else:
            category = "at_or_above_5_percent"
            where = f"at or above the 5 % incidence dose of {five:g} Gy"
        text = f"Single-fraction mean lung dose {mld:.2f} Gy is {where} (Van Dyk et al.)."
        if heterogeneity_corrected is False:
            text += (
                " This dose was computed without lung correction; the figures are for lung-corrected doses."
            )
        elif heterogeneity_corrected is None:
            text += " The figures are for lung-corrected doses."
    return PneumonitisAssessment(
        mld, int(fractions), onset, five, category, text, heterogeneity_corrected, source
    )
