"""Physics of the systemic model: energy bookkeeping, kernels, and the reference adult against the labels."""

from __future__ import annotations

import numpy as np
import pytest

from hbiview.systemic import AGENTS, agent, deposit_energy, skeletal_model
from hbiview.systemic.agents import COMPARTMENTS, MEV_J, water_mu_per_mm
from hbiview.systemic.kernels import loevinger_nu_per_mm, voxel_kernel


@pytest.mark.parametrize("name", AGENTS)
def test_a_body_that_stops_everything_gets_decays_times_mean_energy(name: str) -> None:
    # a water box reaching beyond the longest photon path the kernel allows (8 mean free paths of the
    # most penetrating photon group), one voxel of decays in the middle: nothing leaves, so the energy
    # deposited must be the decays times the mean energy per decay. 1 % is the tolerance; the
    # kernels sum to one by construction, so what is tested is the convolution (no wrap-around, no loss
    # at the centre), the photon coarse grid and the bookkeeping of every emission group
    nuclide = agent(name).nuclide
    spacing = 20.0
    reach = max([8.0 / water_mu_per_mm(e.energy_mev) for e in nuclide.emissions if e.kind == "photon"] + [20])
    n = 2 * int(np.ceil((reach + 2 * 20.0) / spacing)) + 1
    decays = np.zeros((n, n, n))
    decays[n // 2, n // 2, n // 2] = 1e9
    energy = deposit_energy({"all": decays}, nuclide, (spacing,) * 3)
    expected = 1e9 * nuclide.energy_per_decay_mev() * MEV_J
    assert energy.sum() == pytest.approx(expected, rel=0.01)
    assert energy.min() >= 0.0


@pytest.mark.slow
def test_photon_kernel_mean_free_path() -> None:
    # first-interaction kernel: the distance to the first interaction is exponential with mean 1/mu
    # (closed form); on a 5 mm grid the energy-weighted mean distance of the voxel centres from the
    # emitting voxel must be 1/mu within 3 % (voxelisation adds about spacing^2/(4 r) ~ 1 %; sampling
    # noise with 400 000 samples 0.2 %)
    mu = water_mu_per_mm(0.1032)
    kernel = voxel_kernel("photon", round(mu, 6), (5.0, 5.0, 5.0))
    half = np.array(kernel.shape) // 2
    grids = np.meshgrid(*[(np.arange(s) - h) * 5.0 for s, h in zip(kernel.shape, half)], indexing="ij")
    r = np.sqrt(sum(g**2 for g in grids))
    assert float((kernel * r).sum()) == pytest.approx(1.0 / mu, rel=0.03)
    assert 1.0 / mu == pytest.approx(59.2, rel=0.01)  # NIST XCOM water at 103 keV: 0.1707 cm2/g


def test_beta_kernel_is_normalised_and_isotropic() -> None:
    # Sr-89 on a 1 mm grid: all energy absorbed (sum 1), the same along the three axes (isotropic point
    # kernel; 10 % covers the sampling noise of these voxels, about 1900 samples each: 2.3 % per standard
    # deviation, so 10 % is over 3 standard deviations of the ratio), nothing beyond the maximum beta range
    # in water (CSDA range at 1.5 MeV: 7.3 mm, ESTAR; Metastron label: 8 mm)
    kernel = voxel_kernel("beta", 1.495, (1.0, 1.0, 1.0))
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    c = np.array(kernel.shape) // 2
    along = [kernel[c[0] + 2, c[1], c[2]], kernel[c[0], c[1] + 2, c[2]], kernel[c[0], c[1], c[2] + 2]]
    assert max(along) / min(along) < 1.10
    grids = np.meshgrid(*[np.arange(s) - h for s, h in zip(kernel.shape, c)], indexing="ij")
    r = np.sqrt(sum(g**2 for g in grids))
    assert kernel[r > 9.0].sum() < 0.01  # Loevinger's tail: under 1 % of the energy beyond 9 mm
    nu, cee = loevinger_nu_per_mm(1.495)
    assert (nu, cee) == (pytest.approx(1.11, rel=0.01), 1.5)  # 18.6 (1.459)^-1.37 cm2/g = 11.1 cm2/g


#: every agent with each biokinetic choice it has
CHOICES = [("sr89", "label"), ("sr89", "icrp"), ("sm153", "label"), ("ra223", "label"), ("ra223", "icrp")]


@pytest.mark.parametrize(("name", "choice"), CHOICES)
def test_biokinetics_closed_form_matches_the_integrated_activity(name: str, choice: str) -> None:
    # the time-integrated activity -A^-1 q0 (closed form) against the trapezoidal integral of exp(A t) q0
    # (scipy expm) on a log-spaced time grid out to 40 half-lives: 0.5 % covers the quadrature's error
    a = agent(name, choice)
    model, half_life = a.biokinetics, a.nuclide.half_life_d
    closed = model.time_integrated_h(half_life)
    t = np.concatenate([[0.0], np.geomspace(1e-4, 40 * half_life, 1500)])
    q = model.activity(t, half_life)
    numeric = np.trapezoid(q, t, axis=0) * 24.0
    for i, c in enumerate(model.compartments):
        assert numeric[i] == pytest.approx(closed[c], rel=5e-3, abs=1e-3 * sum(closed.values()))


@pytest.mark.parametrize(("name", "choice"), CHOICES)
def test_every_injected_atom_decays_or_leaves(name: str, choice: str) -> None:
    # conservation: d(sum q)/dt = -lambda sum q - excretion, so lambda x (all decays in the body) plus the
    # activity excreted before it decays is the injected unit (1e-9: a linear solve); the bone-mass split
    # moves decays between trabecular and cortical volume and creates none (1e-12)
    a = agent(name, choice)
    d = a.decays_per_mbq
    raw = a.biokinetics.region_decays_per_mbq(a.nuclide.half_life_d)
    assert sum(d.values()) == pytest.approx(sum(raw.values()), rel=1e-12)
    model, half_life = a.biokinetics, a.nuclide.half_life_d
    lam_per_h = np.log(2.0) / (half_life * 24.0)
    integrals = model.time_integrated_h(half_life)
    excreted = sum(
        rate / 24.0 * integrals[f] for f, to, rate in model.transfers if to not in model.regions
    )  # per-day rates over hours
    assert lam_per_h * sum(integrals.values()) + excreted == pytest.approx(1.0, abs=1e-9)


def test_radium_skeletal_uptake_of_the_icrp_model() -> None:
    # the ICRP model's skeleton holds about 30 % of injected radium at 4 h (Hoellriegl et al., EJNMMI Phys
    # 8:44, 2021, Table 4: 29.8 % with the ICRP 137 model; this model 28.8 %); measured in patients
    # 61 +- 10 % (Carrasquillo et al. 2013, same table) -- why the Xofigo label's doses, from patient
    # data, are higher (below).
    # 10 %: their modelled figure includes marrow and the progeny's own kinetics
    ra = agent("ra223", "icrp")
    assert _bone_and_body(ra, 4.0 / 24.0)[0] == pytest.approx(0.298, rel=0.10)


def _bone_and_body(a, t_d: float) -> tuple[float, float]:
    """Share of the injected activity in bone and in the body at ``t_d`` days, corrected for decay."""
    model = a.biokinetics
    q = model.activity(np.array([t_d]), a.nuclide.half_life_d)[0]
    bone = sum(v for c, v in zip(model.compartments, q) if model.regions[c] in COMPARTMENTS)
    decayed = np.exp(-np.log(2.0) * t_d / a.nuclide.half_life_d)
    return float(bone / decayed), float(q.sum() / decayed)


def test_radium_in_patients_matches_their_measured_biodistribution() -> None:
    # the default Ra-223 biokinetics (patients with bone metastases) against what was measured in them
    # (Carrasquillo et al. 2013 and the other trials of Hoellriegl et al. 2021, Table 4): bone 61 +- 10 % at
    # 4 h (the model 58.5 %: the uptake is set from 61 %, the ICRP surface release takes some back);
    # cumulative faeces 60-80 % by day 7 (the model excretes 70 %, nearly all through the gut); urine about
    # 2 % (the model's bladder share is that figure)
    ra = agent("ra223")
    bone_4h, _ = _bone_and_body(ra, 4.0 / 24.0)
    assert bone_4h == pytest.approx(0.61, abs=0.10)
    _, body_7d = _bone_and_body(ra, 7.0)
    assert 0.60 < 1.0 - body_7d < 0.80


#: measured on these models (mGy/MBq), for the xfail reasons
SR_ICRP_MEASURED = "red marrow 21.3 mGy/MBq (+94 %)"
RA_MEASURED = {
    "label": "red marrow 195 mGy/MBq (+40 %), bone surfaces 1489 mGy/MBq (+29 %)",
    "icrp": "red marrow 103 mGy/MBq (-26 %), bone surfaces 762 mGy/MBq (-34 %)",
}


@pytest.mark.xfail(
    strict=True,
    reason=f"Sr-89 with the ICRP alkaline-earth model as it stands ('icrp'): {SR_ICRP_MEASURED} against ICRP "
    "53's 11.0. Leggett's model puts 55 % of skeletal strontium in trabecular bone (blood to trabecular "
    "surface 2.08 against cortical 1.67 per day, the same exchange from both) and the trabecular volume "
    "irradiates the marrow (ICRP 30 absorbed fraction 0.35, cortical 0), whereas the ICRP 30 dosimetric "
    "model of ICRP 53's time splits bone-volume activity by bone mass (20 % trabecular): the default "
    "'label' biokinetics (next test).",
)
def test_reference_adult_strontium_icrp67_split_against_icrp53() -> None:
    # Sr-89 from the published ICRP alkaline-earth model (no parameter fitted to ICRP 53): red marrow and
    # bone surfaces within the 20 % of ICRP 53 (11.0 and 17.0 mGy/MBq; the Metastron label's table)
    doses = skeletal_model().reference_doses_gy_per_mbq(agent("sr89", "icrp"))
    assert doses["BS"] == pytest.approx(17.0e-3, rel=0.20)  # 20.0 (+18 %): passes
    assert doses["RM"] == pytest.approx(11.0e-3, rel=0.20)  # 21.3 (+94 %): fails


def test_reference_adult_strontium_with_icrp30_split_reproduces_icrp53() -> None:
    # the default ('label') Sr-89 biokinetics: the same Leggett-model decays (292 h per MBq in bone volume),
    # split between trabecular and cortical bone volume by bone mass as the ICRP 30 dosimetric model behind
    # ICRP 53 does (1 kg : 4 kg), give ICRP 53's doses within the issue's 20 % (10.4 and 17.1 mGy/MBq)
    model = skeletal_model()
    label, icrp = agent("sr89").decays_per_mbq, agent("sr89", "icrp").decays_per_mbq
    for region in ("TBS", "CBS", "ST", "OUT"):  # only bone volume moves (1e-12: the same solve)
        assert label[region] == pytest.approx(icrp[region], rel=1e-12)
    volume = icrp["TBV"] + icrp["CBV"]
    assert label["TBV"] == pytest.approx(0.2 * volume, rel=1e-12)  # ICRP 30: 1 kg trabecular of 5
    doses = model.reference_doses_gy_per_mbq(agent("sr89"))
    assert doses["RM"] == pytest.approx(11.0e-3, rel=0.20)
    assert doses["BS"] == pytest.approx(17.0e-3, rel=0.20)


def test_reference_adult_samarium_predicts_the_quadramet_label() -> None:
    # Sm-153 EDTMP from the label's biodistribution alone (65.5 % skeletal uptake, no release, the rest
    # to urine within hours), ICRP 107 emissions and ICRP 30 absorbed fractions: an independent prediction
    # of the label's dosimetry table (red marrow 1.54, bone surfaces 6.76 mGy/MBq), within the 20 %.
    # Without photons (added on the patient) the model gives 1.53 and 6.59.
    sm = agent("sm153")
    skeleton = sum(sm.decays_per_mbq[c] for c in COMPARTMENTS) / 3.6e9  # hours
    assert skeleton == pytest.approx(0.655 * sm.nuclide.mean_life_h, rel=0.01)  # uptake within minutes
    doses = skeletal_model().reference_doses_gy_per_mbq(sm)
    assert doses["RM"] == pytest.approx(1.54e-3, rel=0.20)
    assert doses["BS"] == pytest.approx(6.76e-3, rel=0.20)


def _radium_case(choice: str):
    why = {
        "label": "the patients' biodistribution (61 % in bone at 4 h) with the ICRP model's bone kinetics "
        "gives about twice the ICRP model's dose, where the label is 1.35 (marrow) and 1.5 (surfaces) times "
        "it. The label's dosimetry (Xofigo SmPC, dosimetry section) was computed with OLINDA/EXM from "
        "clinical biodistribution data with 'additional assumptions' for intestine, red marrow and bone "
        "that it does not publish, so its bone retention cannot be rebuilt; nothing is fitted to it",
        "icrp": "the label's doses are not those of the ICRP 67 model: Lassmann and Nosske's ICRP 67 "
        "dosimetry (0.76 Gy/MBq bone endosteum; 0.071 red marrow of 1.5 kg, 0.095 for 1.12 kg) lies 34 % "
        "and 32 % below the label, and this model reproduces it within 3 % (next test) with the daughters "
        "decaying where radium sits, where they followed the daughters' own kinetics; the time integral "
        "(to infinity, or 50 years) is the same for an 11.4-day half-life. The label's biokinetics come "
        "from patients with bone metastases (61 +- 10 % in bone at 4 h against the model's 29 %, "
        "Hoellriegl et al. 2021, Table 4)",
    }[choice]
    reason = (
        f"Ra-223 with the {choice!r} biokinetics: {RA_MEASURED[choice]} against the Xofigo label (139 and "
        f"1152): {why}"
    )
    return pytest.param(choice, marks=pytest.mark.xfail(strict=True, reason=reason), id=choice)


@pytest.mark.parametrize("choice", [_radium_case("label"), _radium_case("icrp")])
def test_reference_adult_radium_against_xofigo(choice: str) -> None:
    # Ra-223 from published biokinetics (no parameter fitted to the label): absorbed doses, not
    # RBE-weighted, within the 20 % of the Xofigo label (red marrow 139, osteogenic cells 1152)
    doses = skeletal_model().reference_doses_gy_per_mbq(agent("ra223", choice))
    assert doses["RM"] == pytest.approx(0.139, rel=0.20)
    assert doses["BS"] == pytest.approx(1.152, rel=0.20)


def test_reference_adult_radium_matches_lassmann_nosske_icrp67() -> None:
    # a peer calculation with the same ICRP 67 model: Lassmann and Nosske (Eur J Nucl Med Mol Imaging
    # 40:207, 2013): six injections of 0.05 MBq/kg (21 MBq for 70 kg) give the bone endosteal cells about
    # 16 Gy and the red marrow about 1.5 Gy of alpha dose: 0.76 and 0.071 Gy/MBq. ICRP 67's reference man
    # (ICRP 23) has 1.5 kg of red marrow. 10 %: their figures are rounded to two digits (3 %) and their
    # progeny follow their own kinetics (Pb-211 partly leaves bone); this model gives 0.754 and 0.0727
    doses = skeletal_model().reference_doses_gy_per_mbq(
        agent("ra223", "icrp"), red_marrow_kg=1.5, kinds=("alpha",)
    )
    assert doses["BS"] == pytest.approx(16.0 / 21.0, rel=0.10)
    assert doses["RM"] == pytest.approx(1.5 / 21.0, rel=0.10)


def test_decay_data_against_the_labels() -> None:
    # the emission table is ICRP 107's, summed per decay; the product labels state the same physics from
    # their own (older) decay data, an independent check of the sums. Xofigo SmPC section 2: of the Ra-223
    # chain's energy 95.3 % alpha, 3.6 % beta (mean energies 0.445 and 0.492 MeV), 1.1 % gamma; ICRP 107
    # gives 95.1 / 3.8 / 1.1 % (its conversion electrons count with the betas here). 0.5 and 0.3 percentage
    # points: the labels round to 0.1 % and take other conversion-electron data
    ra = agent("ra223").nuclide
    total = ra.energy_per_decay_mev()
    assert ra.energy_per_decay_mev("alpha") / total == pytest.approx(0.953, abs=0.005)
    assert ra.energy_per_decay_mev("electron") / total == pytest.approx(0.036, abs=0.003)
    assert ra.energy_per_decay_mev("photon") / total == pytest.approx(0.011, abs=0.001)
    # Pb-211 and Tl-207 mean beta energies: 1.5 % (ICRP 107 0.4497 and 0.4951 MeV, the label 0.445, 0.492)
    betas = sorted(e.energy_mev for e in ra.emissions if e.kind == "electron" and e.energy_mev > 0.3)
    assert betas == [pytest.approx(0.445, rel=0.015), pytest.approx(0.492, rel=0.015)]
    # Quadramet SmPC section 2: Sm-153 gamma 103 keV 29 % (ICRP 107 29.8 %; 1 point: the label's rounding)
    sm = agent("sm153").nuclide
    gamma = [e for e in sm.emissions if e.kind == "photon" and e.energy_mev > 0.1 and e.yield_per_decay > 0.1]
    assert [(e.energy_mev, e.yield_per_decay) for e in gamma] == [(0.1032, pytest.approx(0.29, abs=0.01))]


def test_unknown_agent_is_refused() -> None:
    from hbiview.errors import InputError

    with pytest.raises(InputError, match="sr89, sm153, ra223"):
        agent("i131")
    with pytest.raises(InputError, match="no ICRP model for Sm-153"):
        agent("sm153", "icrp")
    assert agent("Sr-89").key == "sr89"


def test_systemic_items_carry_activity_and_biokinetics() -> None:
    from hbiview.errors import InputError
    from hbiview.systemic import parse_systemic

    assert parse_systemic("sr89") == ("sr89", {})
    assert parse_systemic("sr89:150@icrp") == ("sr89", {"activity_mbq": 150.0, "biokinetics": "icrp"})
    assert parse_systemic("sm153:37/kg@label") == (
        "sm153",
        {"activity_mbq_per_kg": 37.0, "biokinetics": "label"},
    )
    with pytest.raises(InputError, match="label or icrp"):
        parse_systemic("ra223@patients")
