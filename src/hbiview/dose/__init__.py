"""Dose calculation: engines behind a small interface, prescription normalisation, the dose grid."""

from hbiview.dose import convolution as _convolution  # noqa: F401  (registers the engine)
from hbiview.dose.compute import DoseResult, compute_dose, compute_dose_result, plan_dose_model
from hbiview.dose.engine import BeamDose, DoseEngine, available_engines, get_engine, register_engine

__all__ = [
    "BeamDose",
    "DoseEngine",
    "DoseResult",
    "available_engines",
    "compute_dose",
    "compute_dose_result",
    "get_engine",
    "plan_dose_model",
    "register_engine",
]
