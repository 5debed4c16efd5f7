"""The absorbed dose of a bone-seeking radionuclide in the patient's own skeleton.

The chain, each link with its source in ``hbiview/data/bone_seekers.toml``:

1. **Where the activity sits.** The skeleton of the case (its CT segmentation) on a dose grid: trabecular
   bone is the cancellous, marrow-holding bone of the active-marrow sites (the ``Marrow`` structure),
   cortical bone the rest of the ``Skeleton``. Skeletal activity is split between trabecular and cortical
   bone surfaces and volumes as the agent's biokinetic model says (step 2). Within each compartment it is
   spread evenly over the bone (trabecular voxels by volume, cortical voxels by their bone fraction),
   optionally weighted by a lesion mask (lesion voxels
   take up ``lesion_ratio`` times more) or an uptake image (bone scan or SPECT, values taken as relative
   uptake). The share of the skeleton outside the scan (from the marrow sites the scan misses) carries its
   activity outside the grid.
2. **How many decays.** A linear compartment model with physical decay
   (:class:`hbiview.systemic.agents.Biokinetics`), by default the biokinetics each agent's reference doses
   were computed with (``biokinetics="label"``): Sr-89 by the ICRP alkaline-earth model (Leggett 1992,
   ICRP 67; rates of ICRP 134) with its bone-volume decays split by bone mass as the ICRP 30 dosimetry of
   ICRP 53 does; Ra-223 by the biodistribution measured in patients with bone metastases (61 % in bone at
   4 h, the rest through the gut) with the ICRP model's bone kinetics; Sm-153 EDTMP by the Quadramet
   label's biodistribution. ``biokinetics="icrp"`` takes the current ICRP models instead (Sr-89 and Ra-223,
   rates of ICRP 134 and 137, their own trabecular/cortical split). It gives the decays on trabecular and
   cortical bone surfaces and volumes, in blood and soft tissue
   (spread evenly over the body's soft tissue) and in the bladder and gut contents (not on the grid).
3. **Where the energy goes.** Alpha particles stay in their voxel; beta particles and electrons spread by
   Loevinger's point kernel, photons by a first-interaction kernel, both by FFT convolution
   (:mod:`hbiview.systemic.kernels`). The dose map is the energy per mass of water in each voxel of the
   body (a water-equivalent voxel average), except in trabecular voxels, where it is the dose to the active
   marrow inside the bone.
4. **Active marrow and bone surfaces.** Inside bone the energy is split by the ICRP 30 skeletal absorbed
   fractions (surface or volume source in trabecular or cortical bone, to red marrow and to the 10 um
   bone-surface layer); the marrow of a voxel holds ``w x 1.12 kg`` of active marrow (``w`` its share of
   the body's active marrow, from the case's marrow sites), the bone surfaces 0.12 kg in all (Cristy and
   Eckerman's reference adult). Photons, and the particles of the activity in soft tissue (per kg of soft
   tissue), add their dose to the marrow as to water.

Doses are absorbed doses (Gy), never RBE-weighted (for the alpha emitter Ra-223 an RBE of about 5 is often
applied to the marrow; hbiview does not).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from hbiview.errors import InputError, warn
from hbiview.geometry import Geometry
from hbiview.labels import MARROW_SITES
from hbiview.systemic.agents import COMPARTMENTS, MEV_J, Agent, agent, skeletal_model, water_mu_per_mm
from hbiview.systemic.kernels import convolve, voxel_kernel
from hbiview.volume import DoseGrid, Structure, Volume, resample_array

if TYPE_CHECKING:  # pragma: no cover
    from hbiview.pipeline import Case

__all__ = [
    "DEFAULT_GRID_MM",
    "DEFAULT_LESION_RATIO",
    "SystemicDose",
    "body_mass_kg",
    "compute_systemic",
    "deposit_energy",
]

#: Dose grid spacing (mm) by default.
DEFAULT_GRID_MM = 5.0
#: Uptake of lesion voxels relative to normal bone when a lesion mask is given. Measured lesion to normal
#: bone ratios of Sr-89 and Sm-153 range from about 2 to over 10 (Blake et al., Eur J Nucl Med 1986;
#: Eary et al., J Nucl Med 1993); 5 is a middle value for teaching, give your own.
DEFAULT_LESION_RATIO = 5.0
#: Photons are convolved on a grid this many times coarser (their mean free path is 5-10 cm).
PHOTON_COARSENING_MM = 20.0


@dataclass(frozen=True, eq=False)
class SystemicDose:
    """The dose of one administration of a bone-seeking radionuclide.

    Parameters
    ----------
    agent
        The agent (:class:`hbiview.systemic.agents.Agent`).
    activity_mbq
        Administered activity (MBq).
    dose
        Absorbed dose (Gy) on its grid: active marrow inside trabecular bone, water-equivalent elsewhere.
    red_marrow_gy
        Mean absorbed dose to the active marrow in the scan (Gy), weighted by active-marrow mass.
    bone_surface_gy
        Mean absorbed dose to the bone-surface cells in the scan (Gy).
    site_red_marrow_gy
        Marrow site -> mean active-marrow dose (Gy).
    body_mass_kg
        Mass of the body in the scan (kg), from the CT densities.
    energy_emitted_j, energy_deposited_j
        Energy emitted in the grid and deposited in the body by the kernels (J).
    uptake
        How the skeletal activity was weighted (``"uniform"``, a mask or image name).
    notes
        Remarks for reports (limits, cut sites).
    marrow
        The trabecular bone of the active-marrow sites on the dose grid, with each voxel's share of the
        body's active marrow as weights (what :attr:`red_marrow_gy` averages over).
    """

    agent: Agent
    activity_mbq: float
    dose: DoseGrid
    red_marrow_gy: float
    bone_surface_gy: float
    site_red_marrow_gy: dict[str, float]
    body_mass_kg: float
    energy_emitted_j: float
    energy_deposited_j: float
    uptake: str = "uniform"
    notes: tuple[str, ...] = field(default=())
    marrow: Structure | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """Short name for tables: ``"Sr-89 150 MBq"`` (``"Sr-89 150 MBq (ICRP)"`` with the ICRP model)."""
        a = self.activity_mbq
        name = self.agent.nuclide.name
        text = f"{name} {a:.0f} MBq" if a >= 100 else f"{name} {a:.3g} MBq"
        return text if self.agent.choice == "label" else f"{text} ({self.agent.choice.upper()})"

    @property
    def red_marrow_gy_per_mbq(self) -> float:
        """Mean active-marrow dose per MBq administered (Gy/MBq)."""
        return self.red_marrow_gy / self.activity_mbq

    @property
    def bone_surface_gy_per_mbq(self) -> float:
        """Mean bone-surface dose per MBq administered (Gy/MBq)."""
        return self.bone_surface_gy / self.activity_mbq

    def summary(self) -> dict[str, Any]:
        """What reports show about the administration (like a plan summary)."""
        a = self.agent
        rm, bs = 1000 * self.red_marrow_gy_per_mbq, 1000 * self.bone_surface_gy_per_mbq
        return {
            "description": f"{a.product}, {self.activity_mbq:.1f} MBq intravenous, uptake {self.uptake}",
            "engine": f"hbiview.systemic: {a.choice} biokinetics, {a.model_source}; ICRP 30 skeletal "
            f"absorbed fractions, Loevinger beta kernel, FFT convolution, "
            f"{float(self.dose.geometry.spacing_mm[0]):g} mm grid",
            "active_marrow": f"{self.red_marrow_gy:.3g} Gy mean ({rm:.3g} mGy/MBq)",
            "bone_surfaces": f"{self.bone_surface_gy:.3g} Gy mean ({bs:.3g} mGy/MBq)",
            "reference": f"{a.reference}: red marrow {1000 * a.reference_red_marrow_gy_per_mbq:g}, bone "
            f"surfaces {1000 * a.reference_bone_surface_gy_per_mbq:g} mGy/MBq",
            "notes": " ".join(self.notes),
        }


def body_mass_kg(density: np.ndarray, body: np.ndarray, voxel_cc: float) -> float:
    """Mass (kg) of the body: relative (electron) density taken as g/cm3, times voxel volume."""
    return float(np.sum(density[body], dtype=np.float64) * voxel_cc / 1000.0)


def deposit_energy(
    decays: Mapping[str, np.ndarray], nuclide: Any, spacing_mm: tuple[float, float, float]
) -> np.ndarray:
    """Energy (J) deposited in each voxel by the decays in each voxel (water, no boundaries but the grid).

    Parameters
    ----------
    decays
        Any names -> decays per voxel (the sum over all entries is used).
    nuclide
        :class:`hbiview.systemic.agents.Nuclide`.
    spacing_mm
        Voxel size ``(z, y, x)``.

    Returns
    -------
    numpy.ndarray
        Energy (J) per voxel, float64: alpha particles in place, electrons by the beta kernel, photons by the
        first-interaction kernel on a grid about 20 mm coarse.
    """
    particles, photons = _deposit(decays, nuclide, spacing_mm)
    return particles + photons


def _deposit(
    decays: Mapping[str, np.ndarray], nuclide: Any, spacing_mm: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Energy (J) per voxel of the alpha particles and electrons, and of the photons."""
    # typeshed's sum() allows 0 for an empty iterable; every compartment has its array here
    total = cast(np.ndarray, sum(np.asarray(d, np.float64) for d in decays.values()))
    spacing = tuple(float(s) for s in spacing_mm)
    out = total * (nuclide.energy_per_decay_mev("alpha") * MEV_J)
    e_mev = nuclide.energy_per_decay_mev("electron")
    if e_mev > 0:
        kernel = voxel_kernel("beta", round(nuclide.beta_max_mev, 4), spacing)
        out += convolve(total * (e_mev * MEV_J), kernel)
    photons = [e for e in nuclide.emissions if e.kind == "photon"]
    if not photons:
        return out, np.zeros_like(out)
    factor = max(1, round(PHOTON_COARSENING_MM / max(spacing)))
    return out, _photon_energy(total, photons, spacing, factor)


def _photon_energy(
    total: np.ndarray, photons: list[Any], spacing: tuple[float, ...], factor: int
) -> np.ndarray:
    """Photon energy deposition, convolved on a grid ``factor`` times coarser and spread back evenly.

    The groups' kernels are added, each weighted by its share of the photon energy, so that one
    convolution serves them all.
    """
    shape = total.shape
    pad = [(0, (-n) % factor) for n in shape]
    coarse_src = np.pad(total, pad)
    cz, cy, cx = (n // factor for n in coarse_src.shape)
    coarse_src = coarse_src.reshape(cz, factor, cy, factor, cx, factor).sum(axis=(1, 3, 5))
    coarse_spacing = tuple(s * factor for s in spacing)
    kernels = [
        voxel_kernel("photon", round(water_mu_per_mm(e.energy_mev), 6), coarse_spacing) for e in photons
    ]
    size = np.max([k.shape for k in kernels], axis=0)
    kernel = np.zeros(tuple(size))
    energy_mev = sum(e.energy_per_decay_mev for e in photons)
    for e, k in zip(photons, kernels):
        lo = (size - np.array(k.shape)) // 2
        kernel[lo[0] : lo[0] + k.shape[0], lo[1] : lo[1] + k.shape[1], lo[2] : lo[2] + k.shape[2]] += (
            k * e.energy_per_decay_mev / energy_mev
        )
    deposited = convolve(coarse_src * (energy_mev * MEV_J), kernel)
    fine = np.repeat(np.repeat(np.repeat(deposited, factor, 0), factor, 1), factor, 2) / factor**3
    return fine[: shape[0], : shape[1], : shape[2]]


def _grid(case: Case, grid_mm: float) -> Geometry:
    body = case.structures["Body"]
    k, j, i = np.nonzero(body.mask)
    if k.size == 0:
        raise InputError(f"{case.source or 'the CT'}: no body found, so no skeleton to take up the activity")
    g = body.geometry
    corners = g.index_to_lps(
        np.array(
            [[a, b, c] for a in (k.min(), k.max()) for b in (j.min(), j.max()) for c in (i.min(), i.max())],
            float,
        )
    )
    return Geometry.box(corners.min(axis=0), corners.max(axis=0), grid_mm, g.frame_of_reference_uid)


def _uptake_weights(
    uptake: Any, case: Case, geometry: Geometry, lesion_ratio: float
) -> tuple[np.ndarray, str]:
    if uptake is None or (isinstance(uptake, str) and uptake == "uniform"):
        return np.ones(geometry.shape), "uniform"
    if isinstance(uptake, Structure):
        mask = resample_array(uptake.mask.astype(np.float32), uptake.geometry, geometry, order=1)
        if not np.any(mask > 0):
            raise InputError(f"lesion mask {uptake.name!r} does not overlap the patient's dose grid")
        if not lesion_ratio > 0:
            raise InputError(f"lesion_ratio = {lesion_ratio!r}: the lesion uptake ratio must be positive")
        return 1.0 + (lesion_ratio - 1.0) * np.clip(
            mask, 0, 1
        ), f"lesion mask {uptake.name} x{lesion_ratio:g}"
    if isinstance(uptake, Volume):
        values = resample_array(np.asarray(uptake.array, np.float32), uptake.geometry, geometry, order=1)
        values = np.clip(np.nan_to_num(values), 0.0, None)
        if not np.any(values > 0):
            raise InputError("the uptake image is zero (or outside the CT) everywhere on the patient")
        name = str(getattr(uptake, "metadata", {}).get("source_path", "uptake image"))
        return values.astype(np.float64), f"image {name}"
    raise InputError(f"uptake must be 'uniform', a lesion Structure or an image Volume, not {uptake!r}")


@dataclass(frozen=True, eq=False)
class _GridAnatomy:
    """The case's anatomy on a dose grid: what every agent on that case and grid shares."""

    geometry: Geometry
    mass_kg: float
    body: np.ndarray
    bone_fraction: np.ndarray
    labels: np.ndarray
    weights: np.ndarray


#: case -> grid spacing -> its anatomy on that grid (dropped with the case)
_GRID_CACHE: weakref.WeakKeyDictionary[Any, dict[float, _GridAnatomy]] = weakref.WeakKeyDictionary()


def _grid_anatomy(case: Case, grid_mm: float) -> _GridAnatomy:
    """Body, bone fraction, marrow sites and active-marrow weights of ``case`` on a ``grid_mm`` grid."""
    cached = _GRID_CACHE.setdefault(case, {})
    if grid_mm in cached:
        return cached[grid_mm]
    from hbiview.density import hu_to_density

    anatomy = case.anatomy
    ct = case.ct
    geometry = _grid(case, grid_mm)
    hu = resample_array(ct.array, ct.geometry, geometry, order=1, fill_value=-1000.0)
    body_structure = case.structures["Body"]
    body = resample_array(body_structure.mask.view(np.uint8), body_structure.geometry, geometry, order=0) > 0
    mass_kg = body_mass_kg(hu_to_density(hu), body, geometry.voxel_volume_cc)
    skeleton = case.structures["Skeleton"]
    bone_fraction = np.clip(
        resample_array(skeleton.mask.view(np.uint8), skeleton.geometry, geometry, order=1), 0.0, 1.0
    )
    labels = resample_array(np.asarray(anatomy.site_labels), ct.geometry, geometry, order=0)
    if not (labels > 0).any():
        raise InputError(
            f"{case.source or 'the CT'}: no active-marrow bone found on a {grid_mm:g} mm grid; a "
            "bone-seeking agent needs the skeleton (is this a CT of the trunk?)"
        )
    # active-marrow weights on the dose grid: each site's share spread over its voxels there
    weights = np.zeros(geometry.shape)
    counts = np.bincount(labels.ravel(), minlength=len(MARROW_SITES) + 1)
    for index, site in enumerate(MARROW_SITES, start=1):
        if counts[index]:
            weights[labels == index] = anatomy.site_fractions.get(site, 0.0) / counts[index]
    for array in (body, bone_fraction, labels, weights):
        array.setflags(write=False)
    cached[grid_mm] = _GridAnatomy(geometry, mass_kg, body, bone_fraction, labels, weights)
    return cached[grid_mm]


def compute_systemic(
    case: Case,
    agent_name: str | Agent,
    *,
    activity_mbq: float | None = None,
    activity_mbq_per_kg: float | None = None,
    uptake: str | Structure | Volume | None = "uniform",
    lesion_ratio: float = DEFAULT_LESION_RATIO,
    grid_mm: float = DEFAULT_GRID_MM,
    biokinetics: str | None = None,
) -> SystemicDose:
    """Absorbed dose of one intravenous administration of a bone-seeking agent on a case.

    Parameters
    ----------
    case
        The patient (:func:`hbiview.pipeline.load_case`); its segmentation gives body, skeleton and marrow.
    agent_name
        ``"sr89"``, ``"sm153"``, ``"ra223"`` or an :class:`Agent`.
    activity_mbq, activity_mbq_per_kg
        Administered activity (MBq), or per kg of body mass (mass from the CT densities). Neither: the
        agent's usual activity (150 MBq Sr-89; 37 MBq/kg Sm-153; 0.055 MBq/kg Ra-223 per injection).
    uptake
        ``"uniform"``, a lesion :class:`~hbiview.volume.Structure` or an uptake image
        (:class:`~hbiview.volume.Volume`, e.g. a SPECT or bone scan registered to the CT).
    lesion_ratio
        Uptake of lesion voxels relative to normal bone (with a lesion mask).
    grid_mm
        Dose grid spacing (mm).
    biokinetics
        ``"label"`` (default): the biokinetics the agent's reference doses were computed with; ``"icrp"``:
        the current ICRP model (see :func:`hbiview.systemic.agents.agent`). Ignored for an :class:`Agent`.

    Returns
    -------
    SystemicDose

    Raises
    ------
    InputError
        Bad activity, unknown agent, no skeleton, a mask or image that misses the patient.
    """
    ag = agent_name if isinstance(agent_name, Agent) else agent(agent_name, biokinetics)
    if activity_mbq is not None and activity_mbq_per_kg is not None:
        raise InputError("give the activity in MBq or in MBq/kg, not both")
    for value, unit in ((activity_mbq, "MBq"), (activity_mbq_per_kg, "MBq/kg")):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise InputError(f"activity {value!r} {unit}: it must be a positive number")
    if not (np.isfinite(grid_mm) and 1.0 <= grid_mm <= 20.0):
        raise InputError(f"grid_mm = {grid_mm!r}: choose a dose grid spacing between 1 and 20 mm")
    model = skeletal_model()
    grid = _grid_anatomy(case, float(grid_mm))
    geometry, voxel_cc, mass_kg = grid.geometry, grid.geometry.voxel_volume_cc, grid.mass_kg
    body, bone_fraction, labels, weights = grid.body, grid.bone_fraction, grid.labels, grid.weights
    trabecular = labels > 0
    in_scan = float(weights.sum())

    if activity_mbq is None:
        activity_mbq = (
            activity_mbq_per_kg * mass_kg if activity_mbq_per_kg is not None else ag.typical_activity(mass_kg)
        )
    notes: list[str] = []
    if in_scan < 0.95:
        notes.append(
            f"the scan holds {in_scan:.0%} of the active marrow; the activity of the skeleton outside it is "
            "not on the grid"
        )
        warn(notes[-1])
    if activity_mbq_per_kg is not None or ag.typical_activity_mbq is None:
        if in_scan < 0.95:
            notes.append(f"body mass {mass_kg:.0f} kg is that of the scan only")

    u, uptake_name = _uptake_weights(uptake, case, geometry, lesion_ratio)
    cortical_weight = bone_fraction * ~trabecular * body
    base = {"T": trabecular.astype(np.float64), "C": cortical_weight}
    per_mbq = model.compartment_decays(ag)
    decays: dict[str, np.ndarray] = {}
    for comp, n_per_mbq in per_mbq.items():
        w = base[comp[0]] * u
        total_w = float(w.sum())
        if n_per_mbq <= 0 or total_w <= 0:
            decays[comp] = np.zeros(geometry.shape)
            continue
        decays[comp] = w * (n_per_mbq * activity_mbq * in_scan / total_w)
    # blood and soft tissue: spread over the body's soft tissue (the scan's share as for the skeleton)
    region_decays = ag.decays_per_mbq
    soft = body * (1.0 - bone_fraction) * ~trabecular
    soft_decays = region_decays["ST"] * activity_mbq * in_scan
    if soft_decays > 0 and soft.sum() > 0:
        decays["ST"] = soft * (soft_decays / float(soft.sum()))
    out_share = region_decays["OUT"] / max(sum(region_decays.values()), 1e-300)
    if out_share > 0.005:
        notes.append(
            f"{out_share:.0%} of the decays happen in the bladder and gut contents on their way out; "
            "they are not on the dose grid"
        )

    spacing = tuple(float(s) for s in geometry.spacing_mm)
    nuclide = ag.nuclide
    particles, photon_only = _deposit(decays, nuclide, spacing)
    energy = particles + photon_only
    water_kg = voxel_cc / 1000.0
    dose = np.where(body, energy / water_kg, 0.0)
    # active marrow inside trabecular bone: ICRP 30 absorbed fractions, mass w x M_RM; soft-tissue activity
    # adds its particle energy per kg of soft tissue (marrow and bone-surface cells are soft tissue)
    rm_energy = np.zeros(geometry.shape)
    bs_energy_j = 0.0
    for comp in COMPARTMENTS:
        n = decays[comp]
        rm_energy += n * model.energy_to_target_mev(nuclide, comp, "RM") * MEV_J
        bs_energy_j += float(n.sum()) * model.energy_to_target_mev(nuclide, comp, "BS") * MEV_J
    particle_mev = nuclide.energy_per_decay_mev("alpha") + nuclide.energy_per_decay_mev("electron")
    soft_kg = float(soft.sum()) * water_kg
    soft_gy = soft_decays * particle_mev * MEV_J / soft_kg if "ST" in decays else 0.0
    marrow = weights > 0
    dose[marrow] = (
        rm_energy[marrow] / (model.red_marrow_kg * weights[marrow]) + photon_only[marrow] / water_kg + soft_gy
    )
    red_marrow_gy = float(np.sum(weights * dose) / in_scan)
    bone_surface_gy = bs_energy_j / (model.bone_surface_kg * in_scan) + soft_gy
    sites = {}
    for index, site in enumerate(MARROW_SITES, start=1):
        sel = labels == index
        if sel.any() and weights[sel].sum() > 0:
            sites[site] = float(np.sum(weights[sel] * dose[sel]) / weights[sel].sum())
    emitted = float(sum(n.sum() for n in decays.values())) * nuclide.energy_per_decay_mev() * MEV_J
    deposited = float(energy[body].sum())
    notes.append(
        "absorbed dose (not RBE-weighted); inside trabecular bone the map shows the active-marrow dose "
        "(ICRP 30 absorbed fractions), elsewhere the water-equivalent voxel dose"
    )
    description = f"{ag.nuclide.name} {ag.product.split(' (')[0]} {activity_mbq:.0f} MBq (systemic)"
    dose_grid = DoseGrid(geometry, dose.astype(np.float32), 1, description)
    return SystemicDose(
        ag,
        float(activity_mbq),
        dose_grid,
        red_marrow_gy,
        bone_surface_gy,
        sites,
        mass_kg,
        emitted,
        deposited,
        uptake_name,
        tuple(notes),
        Structure(geometry, marrow, name="Marrow", color=(200, 30, 45), weights=weights.astype(np.float32)),
    )
