"""Bone-seeking agents and their radionuclides, read from ``hbiview/data/bone_seekers.toml``.

Every figure comes from the table, which names its source (ICRP 30 skeletal absorbed fractions, ICRP 107
decay data, the ICRP alkaline-earth biokinetic model for strontium and radium, the Quadramet label's
biodistribution, and the reference doses of ICRP 53 and the Metastron, Quadramet and Xofigo labels).
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
    "BIOKINETICS",
    "MEV_J",
    "REGIONS",
    "Agent",
    "Biokinetics",
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
#: Biokinetic choices: ``"label"`` (those the agent's reference doses were computed with; the default) or
#: ``"icrp"`` (the current ICRP model: Sr-89 with ICRP 67's own skeletal split, Ra-223 as in ICRP 137).
BIOKINETICS = ("label", "icrp")
#: Compartments of the ICRP 30 skeleton: trabecular/cortical bone surface/volume.
COMPARTMENTS = ("TBS", "CBS", "TBV", "CBV")
#: Dosimetric regions of a biokinetic model: the skeleton's four, soft tissue (with blood) and the contents
#: of bladder and gut on their way out (``"OUT"``, not on the dose grid).
REGIONS = (*COMPARTMENTS, "ST", "OUT")


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


@dataclass(frozen=True, eq=False)
class Biokinetics:
    """A linear compartment model of the systemic biokinetics of an agent.

    Parameters
    ----------
    name, source
        Table key and the publication the rates come from.
    inject
        The compartment that receives the injected activity.
    regions
        Compartment -> dosimetric region (one of :data:`REGIONS`).
    transfers
        ``(from, to, rate per day)``; a ``to`` that is no compartment leaves the body (urine, faeces).
    """

    name: str
    source: str
    inject: str
    regions: dict[str, str]
    transfers: tuple[tuple[str, str, float], ...]

    @property
    def compartments(self) -> tuple[str, ...]:
        """Compartment names, in matrix order."""
        return tuple(self.regions)

    def rate_matrix(self, half_life_d: float) -> np.ndarray:
        """The matrix ``A`` (per day) of ``dq/dt = A q``: biological transfers and physical decay."""
        index = {c: i for i, c in enumerate(self.compartments)}
        a = np.zeros((len(index), len(index)))
        for source, target, rate in self.transfers:
            a[index[source], index[source]] -= rate
            if target in index:
                a[index[target], index[source]] += rate
        return a - np.log(2.0) / half_life_d * np.eye(len(index))

    def _start(self) -> np.ndarray:
        q0 = np.zeros(len(self.regions))
        q0[self.compartments.index(self.inject)] = 1.0
        return q0

    def activity(self, t_d: np.ndarray, half_life_d: float) -> np.ndarray:
        """Activity in each compartment per unit injected at ``t_d`` days, shape ``(len(t), n)`` (expm)."""
        from scipy.linalg import expm

        a = self.rate_matrix(half_life_d)
        q0 = self._start()
        return np.array([expm(a * float(t)) @ q0 for t in np.atleast_1d(t_d)])

    def time_integrated_h(self, half_life_d: float) -> dict[str, float]:
        """Time-integrated activity coefficient (h) of each compartment per unit injected.

        The integral of ``exp(A t) q0`` from 0 to infinity is ``-A^-1 q0`` (days), given here in hours.
        """
        from scipy.linalg import solve

        integral_d = solve(-self.rate_matrix(half_life_d), self._start())
        return {c: float(v) * 24.0 for c, v in zip(self.compartments, integral_d)}

    def region_decays_per_mbq(self, half_life_d: float) -> dict[str, float]:
        """Decays per MBq injected in each region of :data:`REGIONS`."""
        out = dict.fromkeys(REGIONS, 0.0)
        for compartment, hours in self.time_integrated_h(half_life_d).items():
            out[self.regions[compartment]] += hours * 3600.0 * 1e6
        return out


@dataclass(frozen=True)
class Agent:
    """A bone-seeking radiopharmaceutical and its biokinetics in the reference adult.

    Parameters
    ----------
    key, product
        ``"sr89"``; ``"strontium-89 chloride (Metastron)"``.
    nuclide
        Its radionuclide.
    biokinetics
        Its systemic biokinetic model.
    reference
        Where the reference doses come from.
    reference_red_marrow_gy_per_mbq, reference_bone_surface_gy_per_mbq
        The reference adult's doses (Gy/MBq) this model is validated against.
    typical_activity_mbq, typical_activity_mbq_per_kg
        The usual administered activity (one of them).
    choice
        Which biokinetics (one of :data:`BIOKINETICS`).
    skeletal_split
        ``"model"``: decays in trabecular and cortical bone as the biokinetic model says; ``"mass"``: the
        model's decays in bone volume re-split by the ICRP 30 bone masses (1 kg trabecular : 4 kg
        cortical), as the dosimetry behind ICRP 53 did.
    """

    key: str
    product: str
    nuclide: Nuclide
    biokinetics: Biokinetics
    reference: str
    reference_red_marrow_gy_per_mbq: float
    reference_bone_surface_gy_per_mbq: float
    typical_activity_mbq: float | None = None
    typical_activity_mbq_per_kg: float | None = None
    choice: str = "label"
    skeletal_split: str = "model"

    @property
    def decays_per_mbq(self) -> dict[str, float]:
        """Decays per MBq administered in each region of :data:`REGIONS`.

        From the biokinetic model and the physical half-life, bone volume split as :attr:`skeletal_split`
        says (a new dict at each call).
        """
        decays = dict(_region_decays(self.biokinetics, self.nuclide.half_life_d))
        if self.skeletal_split == "mass":
            t = _table()["masses"]
            trabecular, cortical = float(t["trabecular_bone_kg"]), float(t["cortical_bone_kg"])
            volume = decays["TBV"] + decays["CBV"]
            decays["TBV"] = volume * trabecular / (trabecular + cortical)
            decays["CBV"] = volume * cortical / (trabecular + cortical)
        return decays

    @property
    def model_source(self) -> str:
        """The biokinetics in words (model and skeletal split), for summaries."""
        split = (
            "; bone-volume activity split by ICRP 30 bone mass (1 : 4 trabecular to cortical)"
            if self.skeletal_split == "mass"
            else ""
        )
        return f"{self.biokinetics.source}{split}"

    def typical_activity(self, body_mass_kg: float) -> float:
        """The usual activity (MBq) for a patient of ``body_mass_kg``."""
        if self.typical_activity_mbq is not None:
            return float(self.typical_activity_mbq)
        return float(self.typical_activity_mbq_per_kg or 0.0) * body_mass_kg


@dataclass(frozen=True)
class SkeletalModel:
    """The ICRP 30 skeletal dosimetry model (absorbed fractions) with MIRD target masses.

    Parameters
    ----------
    absorbed_fractions
        Column (``"alpha"``, ``"beta_high"``, ``"beta_low"``) -> ``"TBS_RM"`` ... ``"CBV_BS"`` -> fraction.
    red_marrow_kg, bone_surface_kg
        Target masses of the reference adult.
    soft_tissue_kg
        Soft tissue of the reference adult over which activity in blood and soft tissue is spread.
    """

    absorbed_fractions: dict[str, dict[str, float]]
    red_marrow_kg: float
    bone_surface_kg: float
    soft_tissue_kg: float

    def phi(self, emission: Emission, source: str, target: str) -> float:
        """Absorbed fraction from compartment ``source`` (``"TBS"``...) to ``target`` (``"RM"``, ``"BS"``)."""
        if emission.kind == "photon":
            return 0.0  # photons: transported by the photon kernel instead
        return float(self.absorbed_fractions[emission.af_column][f"{source}_{target}"])

    def energy_to_target_mev(self, nuclide: Nuclide, source: str, target: str) -> float:
        """Energy (MeV) per decay in ``source`` absorbed in ``target`` (alpha and electrons)."""
        return float(sum(e.energy_per_decay_mev * self.phi(e, source, target) for e in nuclide.emissions))

    def compartment_decays(self, agent: Agent) -> dict[str, float]:
        """Decays per MBq in TBS, CBS, TBV and CBV of the reference skeleton (from the biokinetic model)."""
        d = agent.decays_per_mbq
        return {c: d[c] for c in COMPARTMENTS}

    def reference_doses_gy_per_mbq(
        self, agent: Agent, *, red_marrow_kg: float | None = None, kinds: tuple[str, ...] | None = None
    ) -> dict[str, float]:
        """Red-marrow (``"RM"``) and bone-surface (``"BS"``) dose (Gy/MBq) of the reference adult.

        Alpha particles and electrons only (photons are transported on the patient): from the skeleton by
        the ICRP 30 absorbed fractions, from soft tissue as the dose to any soft tissue of a source spread
        evenly over :attr:`soft_tissue_kg` (marrow and bone-surface cells are soft tissue).

        Parameters
        ----------
        agent
            The agent.
        red_marrow_kg
            Red-marrow mass (kg) instead of the table's 1.12 kg (ICRP 23 Reference Man, whose doses
            ICRP 53 and ICRP 67 give, has 1.5 kg).
        kinds
            Particle kinds to count (``("alpha",)``...); default alpha and electrons.
        """
        kinds = kinds or ("alpha", "electron")
        nuclide = agent.nuclide
        decays = agent.decays_per_mbq
        soft_mev = sum(nuclide.energy_per_decay_mev(k) for k in kinds)
        soft_gy = decays["ST"] * soft_mev * MEV_J / self.soft_tissue_kg
        out = {}
        for target, mass in (("RM", red_marrow_kg or self.red_marrow_kg), ("BS", self.bone_surface_kg)):
            mev = sum(
                decays[c] * e.energy_per_decay_mev * self.phi(e, c, target)
                for c in COMPARTMENTS
                for e in nuclide.emissions
                if e.kind in kinds
            )
            out[target] = mev * MEV_J / mass + soft_gy
        return out


@lru_cache(maxsize=1)
def skeletal_model() -> SkeletalModel:
    """The skeletal model of the table (ICRP 30 absorbed fractions, Cristy-Eckerman masses)."""
    t = _table()
    return SkeletalModel(
        {k: dict(v) for k, v in t["absorbed_fractions"].items()},
        float(t["masses"]["red_marrow_kg"]),
        float(t["masses"]["bone_surface_kg"]),
        float(t["masses"]["soft_tissue_kg"]),
    )


@cache
def biokinetics(name: str) -> Biokinetics:
    """The biokinetic model called ``name`` in the table (``"strontium"``, ``"radium"``, ``"edtmp"``)."""
    b = _table()["biokinetics"][name]
    regions = {str(k): str(v) for k, v in b["compartments"].items()}
    bad = sorted(set(regions.values()) - set(REGIONS))
    if bad or b["inject"] not in regions:  # pragma: no cover - a table error
        raise ValueError(f"bone_seekers.toml: biokinetics.{name}: bad regions {bad} or inject")
    transfers = tuple((str(f), str(t), float(r)) for f, t, r in b["transfers"])
    return Biokinetics(name, b["source"], b["inject"], regions, transfers)


_biokinetic_model = biokinetics  # ``agent()`` takes a parameter of that name


@cache
def _region_decays(model: Biokinetics, half_life_d: float) -> dict[str, float]:
    return model.region_decays_per_mbq(half_life_d)


def _nuclide(key: str) -> Nuclide:
    n = _table()["nuclides"][key]
    emissions = tuple(
        Emission(e["kind"], float(e["energy_mev"]), float(e["yield"]), e.get("note", ""))
        for e in n["emissions"]
    )
    return Nuclide(key, n["name"], float(n["half_life_d"]), float(n["beta_max_mev"]), emissions)


@cache
def agent(name: str, biokinetics: str | None = None) -> Agent:
    """The agent called ``name`` (``"sr89"``, ``"sm153"``, ``"ra223"``; ``"Sr-89"`` also works).

    Parameters
    ----------
    name
        The agent.
    biokinetics
        ``"label"`` (default): the biokinetics its reference doses were computed with (Sr-89: the ICRP
        alkaline-earth model's decays with ICRP 30's bone-mass split, as behind ICRP 53 and the Metastron
        label; Sm-153: the Quadramet label; Ra-223: patients with bone metastases, as behind the Xofigo
        label). ``"icrp"``: the current ICRP model (Sr-89 ICRP 67/134, Ra-223 ICRP 67/137 with their own
        trabecular/cortical split; none exists for Sm-153 EDTMP).

    Raises
    ------
    InputError
        For an agent the table does not have, or a biokinetic choice it has not.
    """
    key = name.lower().replace("-", "").replace("_", "").strip()
    table = _table()["agents"]
    if key not in table:
        raise InputError(f"unknown agent {name!r}; choose one of {', '.join(AGENTS)}")
    a = table[key]
    choice = (biokinetics or "label").lower().strip()
    if choice not in a["biokinetics"]:
        raise InputError(
            f"{a['product']}: no {choice!r} biokinetics; it has {' and '.join(map(repr, a['biokinetics']))}"
            + (" (there is no ICRP model for Sm-153 EDTMP)" if key == "sm153" else "")
        )
    return Agent(
        key,
        a["product"],
        _nuclide(a["nuclide"]),
        _biokinetic_model(a["biokinetics"][choice]),
        a["reference"],
        float(a["reference_red_marrow_mgy_per_mbq"]) / 1000.0,
        float(a["reference_bone_surface_mgy_per_mbq"]) / 1000.0,
        a.get("typical_activity_mbq"),
        a.get("typical_activity_mbq_per_kg"),
        choice,
        str(a["skeletal_split"][choice]),
    )


def water_mu_per_mm(energy_mev: float) -> float:
    """Linear attenuation coefficient of water (1/mm) at ``energy_mev`` (log-log interpolation of XCOM)."""
    t = _table()["water_attenuation"]
    e = np.log(np.asarray(t["energy_mev"], float))
    mu = np.log(np.asarray(t["mu_cm2_g"], float))
    return float(np.exp(np.interp(np.log(energy_mev), e, mu))) / 10.0
