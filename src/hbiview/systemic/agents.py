"""Bone-seeking agents and their radionuclides, read from ``hbiview/data/bone_seekers.toml``.

Every figure comes from the table, which names its source (ICRP 30 skeletal absorbed fractions, ICRP 107
decay data, the Metastron, Quadramet and Xofigo labels, ICRP 53).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import numpy as np

from hbiview.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "AGENTS",
    "MEV_J",
    "Agent",
    "Emission",
    "Nuclide",
    "SkeletalModel",
    "agent",
    "skeletal_model",
    "water_mu_per_mm",
]

#: Joules per MeV.
MEV_J = 1.602176634e-13
#: Names of the agents, as ``--agent`` takes them.
AGENTS = ("sr89", "sm153", "ra223")
#: Compartments of the ICRP 30 skeleton: trabecular/cortical bone surface/volume.
COMPARTMENTS = ("TBS", "CBS", "TBV", "CBV")


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    ref = resources.files("hbiview") / "data" / "bone_seekers.toml"
    with ref.open("rb") as handle:
        return tomllib.load(handle)


@dataclass(frozen=True)
class Emission:
    """One group of emitted particles.

    Parameters
    ----------
    kind
        ``"alpha"``, ``"electron"`` or ``"photon"``.
    energy_mev
        Mean energy per particle (MeV).
    yield_per_decay
        Particles per decay.
    note
        What the group is.
    """

    kind: str
    energy_mev: float
    yield_per_decay: float
    note: str = ""

    @property
    def energy_per_decay_mev(self) -> float:
        """Energy emitted by the group per decay (MeV)."""
        return self.energy_mev * self.yield_per_decay

    @property
    def af_column(self) -> str:
        """Which ICRP 30 absorbed-fraction column applies: alpha, beta_high or beta_low."""
        if self.kind == "alpha":
            return "alpha"
        return "beta_high" if self.energy_mev >= 0.2 else "beta_low"


@dataclass(frozen=True)
class Nuclide:
    """A radionuclide (with its short-lived daughters in equilibrium).

    Parameters
    ----------
    key, name
        Table key (``"sr89"``) and display name (``"Sr-89"``).
    half_life_d
        Physical half-life (days).
    beta_max_mev
        Largest beta end-point energy (MeV): sets the reach of the beta kernel.
    emissions
        Emission groups per decay.
    """

    key: str
    name: str
    half_life_d: float
    beta_max_mev: float
    emissions: tuple[Emission, ...]

    def energy_per_decay_mev(self, kind: str | None = None) -> float:
        """Mean energy emitted per decay (MeV), of one kind of particle or all."""
        return float(sum(e.energy_per_decay_mev for e in self.emissions if kind in (None, e.kind)))

    @property
    def mean_life_h(self) -> float:
        """Mean life (hours): the residence time of activity that stays put and only decays."""
        return self.half_life_d * 24.0 / np.log(2.0)


@dataclass(frozen=True)
class Agent:
    """A bone-seeking radiopharmaceutical and its biokinetics in the reference adult.

    Parameters
    ----------
    key, product
        ``"sr89"``; ``"strontium-89 chloride (Metastron)"``.
    nuclide
        Its radionuclide.
    surface_residence_h, volume_residence_h
        Time-integrated activity coefficients (h) on bone surfaces and in bone volume of the whole skeleton.
    reference
        Where the reference doses come from.
    reference_red_marrow_gy_per_mbq, reference_bone_surface_gy_per_mbq
        The reference adult's doses (Gy/MBq) this model is validated against.
    typical_activity_mbq, typical_activity_mbq_per_kg
        The usual administered activity (one of them).
    """

    key: str
    product: str
    nuclide: Nuclide
    surface_residence_h: float
    volume_residence_h: float
    reference: str
    reference_red_marrow_gy_per_mbq: float
    reference_bone_surface_gy_per_mbq: float
    typical_activity_mbq: float | None = None
    typical_activity_mbq_per_kg: float | None = None

    @property
    def decays_per_mbq(self) -> dict[str, float]:
        """Decays per MBq administered on bone surfaces and in bone volume (``"surface"``, ``"volume"``)."""
        return {
            "surface": self.surface_residence_h * 3600.0 * 1e6,
            "volume": self.volume_residence_h * 3600.0 * 1e6,
        }

    def typical_activity(self, body_mass_kg: float) -> float:
        """The usual activity (MBq) for a patient of ``body_mass_kg``."""
        if self.typical_activity_mbq is not None:
            return float(self.typical_activity_mbq)
        return float(self.typical_activity_mbq_per_kg or 0.0) * body_mass_kg


@dataclass(frozen=True)
class SkeletalModel:
    """The ICRP 30 skeletal dosimetry model (absorbed fractions, partition) with MIRD target masses.

    Parameters
    ----------
    absorbed_fractions
        Column (``"alpha"``, ``"beta_high"``, ``"beta_low"``) -> ``"TBS_RM"`` ... ``"CBV_BS"`` -> fraction.
    surface_trabecular, volume_trabecular
        Share of surface-seeking / volume-seeking skeletal activity in trabecular bone.
    red_marrow_kg, bone_surface_kg
        Target masses of the reference adult.
    """

    absorbed_fractions: dict[str, dict[str, float]]
    surface_trabecular: float
    volume_trabecular: float
    red_marrow_kg: float
    bone_surface_kg: float

    def phi(self, emission: Emission, source: str, target: str) -> float:
        """Absorbed fraction from compartment ``source`` (``"TBS"``...) to ``target`` (``"RM"``, ``"BS"``)."""
        if emission.kind == "photon":
            return 0.0  # photons: transported by the photon kernel instead
        return float(self.absorbed_fractions[emission.af_column][f"{source}_{target}"])

    def energy_to_target_mev(self, nuclide: Nuclide, source: str, target: str) -> float:
        """Energy (MeV) per decay in ``source`` absorbed in ``target`` (alpha and electrons)."""
        return float(sum(e.energy_per_decay_mev * self.phi(e, source, target) for e in nuclide.emissions))

    def compartment_decays(self, agent: Agent) -> dict[str, float]:
        """Decays per MBq in TBS, CBS, TBV and CBV of the reference skeleton."""
        d = agent.decays_per_mbq
        return {
            "TBS": d["surface"] * self.surface_trabecular,
            "CBS": d["surface"] * (1.0 - self.surface_trabecular),
            "TBV": d["volume"] * self.volume_trabecular,
            "CBV": d["volume"] * (1.0 - self.volume_trabecular),
        }

    def reference_doses_gy_per_mbq(self, agent: Agent) -> dict[str, float]:
        """Red-marrow and bone-surface dose (Gy/MBq) of the reference adult, alpha and electrons only."""
        decays = self.compartment_decays(agent)
        out = {}
        for target, mass in (("RM", self.red_marrow_kg), ("BS", self.bone_surface_kg)):
            mev = sum(n * self.energy_to_target_mev(agent.nuclide, c, target) for c, n in decays.items())
            out[target] = mev * MEV_J / mass
        return out


@lru_cache(maxsize=1)
def skeletal_model() -> SkeletalModel:
    """The skeletal model of the table (ICRP 30 absorbed fractions, Cristy-Eckerman masses)."""
    t = _table()
    return SkeletalModel(
        {k: dict(v) for k, v in t["absorbed_fractions"].items()},
        float(t["partition"]["surface_trabecular"]),
        float(t["partition"]["volume_trabecular"]),
        float(t["masses"]["red_marrow_kg"]),
        float(t["masses"]["bone_surface_kg"]),
    )


def _nuclide(key: str) -> Nuclide:
    n = _table()["nuclides"][key]
    emissions = tuple(
        Emission(e["kind"], float(e["energy_mev"]), float(e["yield"]), e.get("note", ""))
        for e in n["emissions"]
    )
    return Nuclide(key, n["name"], float(n["half_life_d"]), float(n["beta_max_mev"]), emissions)


@cache
def agent(name: str) -> Agent:
    """The agent called ``name`` (``"sr89"``, ``"sm153"``, ``"ra223"``; ``"Sr-89"`` also works).

    Raises
    ------
    InputError
        For an agent the table does not have.
    """
    key = name.lower().replace("-", "").replace("_", "").strip()
    table = _table()["agents"]
    if key not in table:
        raise InputError(f"unknown agent {name!r}; choose one of {', '.join(AGENTS)}")
    a = table[key]
    return Agent(
        key,
        a["product"],
        _nuclide(a["nuclide"]),
        float(a["surface_residence_h"]),
        float(a["volume_residence_h"]),
        a["reference"],
        float(a["reference_red_marrow_mgy_per_mbq"]) / 1000.0,
        float(a["reference_bone_surface_mgy_per_mbq"]) / 1000.0,
        a.get("typical_activity_mbq"),
        a.get("typical_activity_mbq_per_kg"),
    )


def water_mu_per_mm(energy_mev: float) -> float:
    """Linear attenuation coefficient of water (1/mm) at ``energy_mev`` (log-log interpolation of XCOM)."""
    t = _table()["water_attenuation"]
    e = np.log(np.asarray(t["energy_mev"], float))
    mu = np.log(np.asarray(t["mu_cm2_g"], float))
    return float(np.exp(np.interp(np.log(energy_mev), e, mu))) / 10.0
