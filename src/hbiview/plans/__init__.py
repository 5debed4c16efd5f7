"""Treatment plans: beams, prescriptions, presets built from a CT, and TOML plan files.

A :class:`Plan` is a set of photon :class:`Beam` s with a prescription (dose per fraction at a prescription
point) and a number of fractions. Geometry follows IEC 61217; for a head-first supine patient gantry 0 is an
anterior (AP) beam, 90 enters from the patient's left, 180 is posterior (PA), 270 enters from the right. Other
set-ups (the CT's PatientPosition: FFS, HFP, FFP) turn these directions with the patient (see
:func:`beam_basis`); the presets' AP beam always enters the patient's front.
Field sizes ``(x, y)`` are jaw openings at the isocentre plane 1000 mm from the source; at collimator 0,
``x`` runs along the patient's left-right axis and ``y`` along the superior-inferior axis.

Presets (:func:`list_presets`, :func:`preset`) take their borders from anatomical landmarks and their
prescriptions from ``hbiview/data/hbi_prescriptions.csv`` (Salazar et al. 1986, RTOG 78-10).

The package's modules, each importable on its own:

- :mod:`hbiview.plans.model`: the values (:class:`Beam`, :class:`Block`, :class:`TransmissionMap`,
  :class:`Normalization`, :class:`Plan`) and their geometry (:func:`beam_basis`); it imports nothing from
  :mod:`hbiview.dose`.
- :mod:`hbiview.plans.resolve`: :func:`resolve_plan`, a plan placed on a CT.
- :mod:`hbiview.plans.files`: :func:`load_plan`, TOML plan files.
- :mod:`hbiview.plans.borders`: landmark positions and field borders (:func:`border_z_mm`).
- :mod:`hbiview.plans.setup`: hemi-body SSD, jaws and collimator.
- :mod:`hbiview.plans.presets`: :func:`preset`, :func:`list_presets`, :func:`junction_gap_mm`.
- :mod:`hbiview.plans.keep_setup`: a border moved by the jaws with the patient's set-up kept.
"""

from __future__ import annotations

from hbiview.plans.borders import border_z_mm
from hbiview.plans.files import load_plan, plan_from_dict
from hbiview.plans.model import (
    COMPENSATIONS,
    ENERGIES,
    LANDMARK_KEYS,
    MAX_DOSE_PER_FRACTION_GY,
    MAX_FRACTIONS,
    MAX_JAW_MM,
    MAX_OVERTRAVEL_MM,
    MAX_SSD_MM,
    MAX_TOTAL_DOSE_GY,
    MIN_SSD_MM,
    PATIENT_POSITIONS,
    SAD_MM,
    Beam,
    Block,
    Normalization,
    Plan,
    TransmissionMap,
    beam_basis,
    ct_patient_position,
)
from hbiview.plans.presets import LOWER_HBI_TWO_PAIRS, junction_gap_mm, list_presets, preset
from hbiview.plans.resolve import resolve_plan

__all__ = [
    "COMPENSATIONS",
    "ENERGIES",
    "LANDMARK_KEYS",
    "LOWER_HBI_TWO_PAIRS",
    "MAX_DOSE_PER_FRACTION_GY",
    "MAX_FRACTIONS",
    "MAX_JAW_MM",
    "MAX_OVERTRAVEL_MM",
    "MAX_SSD_MM",
    "MAX_TOTAL_DOSE_GY",
    "MIN_SSD_MM",
    "PATIENT_POSITIONS",
    "SAD_MM",
    "Beam",
    "Block",
    "Normalization",
    "Plan",
    "TransmissionMap",
    "beam_basis",
    "border_z_mm",
    "ct_patient_position",
    "junction_gap_mm",
    "list_presets",
    "load_plan",
    "plan_from_dict",
    "preset",
    "resolve_plan",
]
