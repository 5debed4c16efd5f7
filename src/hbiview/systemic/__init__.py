"""Bone-seeking radionuclides (Sr-89, Sm-153, Ra-223) on the patient's own skeleton.

>>> from hbiview.pipeline import load_case                      # doctest: +SKIP
>>> from hbiview.systemic import compute_systemic                # doctest: +SKIP
>>> sr = compute_systemic(load_case(), "sr89", activity_mbq=150)  # doctest: +SKIP
>>> sr.red_marrow_gy, sr.bone_surface_gy                         # doctest: +SKIP

See :mod:`hbiview.systemic.model` for the model and ``hbiview/data/bone_seekers.toml`` for its figures and
their sources.
"""

from __future__ import annotations

from hbiview.systemic.agents import AGENTS, Agent, Nuclide, agent, skeletal_model
from hbiview.systemic.model import SystemicDose, compute_systemic, deposit_energy
from hbiview.systemic.run import SystemicRun, parse_systemic, run_systemic

__all__ = [
    "AGENTS",
    "Agent",
    "Nuclide",
    "SystemicDose",
    "SystemicRun",
    "agent",
    "compute_systemic",
    "deposit_energy",
    "parse_systemic",
    "run_systemic",
    "skeletal_model",
]
