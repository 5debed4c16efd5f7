"""The systemic model on patients: the ICRP 110 adult female phantom and the sample patient.

Validation against ``shared/data/icrp110_adult_female`` (skipped when it is not on the machine): the mean
active-marrow and bone-surface absorbed doses per MBq within 20 % of the reference values of the issue
(Sr-89: ICRP 53 / Metastron label; Sm-153: Quadramet label; Ra-223: Xofigo label, absorbed dose).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hbiview.systemic import run_systemic

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

#: Reference doses (Gy/MBq): red marrow, bone surfaces.
REFERENCE = {
    "sr89": (11.0e-3, 17.0e-3),  # ICRP 53, as in the Metastron label
    "sm153": (1.54e-3, 6.76e-3),  # Quadramet label
    "ra223": (0.139, 1.152),  # Xofigo label: red marrow, osteogenic cells (absorbed, not RBE-weighted)
}

#: Why published biokinetics miss a reference by more than 20 % (measured on the phantom, mGy/MBq)
MISSES = {
    (
        "sr89",
        "icrp",
        "red marrow",
    ): "Sr-89 red marrow 21.4 with the 'icrp' biokinetics against ICRP 53's 11.0 "
    "(+94 %): the ICRP alkaline-earth model puts 55 % of skeletal strontium in trabecular bone, whose volume "
    "irradiates the marrow (ICRP 30 absorbed fraction 0.35, cortical 0), where the ICRP 30 dosimetry of "
    "ICRP 53's time splits bone-volume activity by bone mass (20 % trabecular; the default 'label' "
    "biokinetics, 10.5); see tests/systemic/test_physics.py",
    ("ra223", "label", "red marrow"): "Ra-223 red marrow 196 with the patients' biodistribution against the "
    "Xofigo label's 139 (+41 %): 61 % in bone at 4 h with the ICRP model's bone kinetics gives about twice "
    "the ICRP model's dose, the label 1.35 times it; the label's OLINDA/EXM dosimetry made 'additional "
    "assumptions' for red marrow and bone that it does not publish; see tests/systemic/test_physics.py",
    ("ra223", "label", "bone surfaces"): "Ra-223 bone surfaces 1489 with the patients' biodistribution "
    "against the label's 1152 (+29 %): as for marrow",
    ("ra223", "icrp", "red marrow"): "Ra-223 red marrow 104 with the ICRP model against the Xofigo label's "
    "139 (-25 %): the label's biokinetics come from patients with bone metastases, whose skeleton takes up "
    "about twice the ICRP model's radium (61 % against 29 % at 4 h); the ICRP 67 dosimetry of Lassmann "
    "and Nosske, which this model reproduces, is itself 32-34 % below the label",
    ("ra223", "icrp", "bone surfaces"): "Ra-223 bone surfaces 762 with the ICRP model against the label's "
    "1152 (-34 %): as for marrow",
}
#: every agent with each biokinetic choice it has
CHOICES = [("sr89", "label"), ("sr89", "icrp"), ("sm153", "label"), ("ra223", "label"), ("ra223", "icrp")]


@pytest.fixture(scope="module")
def icrp_case(shared_dir: Path):
    folder = shared_dir / "data" / "icrp110_adult_female" / "ct"
    if not folder.is_dir():
        pytest.skip("shared/data/icrp110_adult_female is not on this machine")
    from hbiview.pipeline import load_case

    case = load_case(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case.anatomy  # noqa: B018 - segment once for the module
    return case


@pytest.fixture(scope="module")
def icrp_runs(icrp_case):
    """Each agent with each biokinetic choice at 1 MBq on the phantom, computed once for the module."""
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, choice in CHOICES:
            runs[name, choice] = run_systemic(
                icrp_case,
                name,
                activity_mbq=1.0,
                structures=["Marrow", "Lungs", "Skeleton"],
                biokinetics=choice,
            )
    return runs


@pytest.mark.slow
@pytest.mark.parametrize(("name", "choice"), CHOICES)
def test_icrp110_female_dose_chain(icrp_runs, name: str, choice: str) -> None:
    run = icrp_runs[name, choice]
    # the marrow dose as the report reads it: the active-marrow weighted mean of the Marrow DVH
    rm = run.metrics("Marrow")["weighted_mean_gy"]
    assert rm == pytest.approx(run.result.red_marrow_gy, rel=1e-4)  # the DVH and the model agree
    # the phantom against the reference adult of the same model: the patient chain (uptake on the CT's
    # skeleton, kernels, marrow weights) adds the photons (Sm-153 about 4 %) and loses what leaves; 10 %
    from hbiview.systemic import agent, skeletal_model

    ref = skeletal_model().reference_doses_gy_per_mbq(agent(name, choice))
    assert rm == pytest.approx(ref["RM"], rel=0.10)
    assert run.result.bone_surface_gy == pytest.approx(ref["BS"], rel=0.10)
    # the phantom's body mass: ICRP 89 reference adult female, 60 kg (5 %: the pseudo-CT's densities)
    assert run.result.body_mass_kg == pytest.approx(60.0, rel=0.05)
    # beta and alpha particles stay in the body: what leaves is photons (Sm-153 photons carry 18 % of its
    # energy, Ra-223's 1 %) and betas of soft-tissue activity near the skin; Sr-89 keeps more than 99 %
    ratio = run.result.energy_deposited_j / run.result.energy_emitted_j
    assert ratio <= 1.0 + 1e-9
    lower = {"sr89": 0.99, "sm153": 0.82, "ra223": 0.98}[name]
    assert ratio > lower
    # the lungs get little: betas of the ribs and spine reach their edge, photons and the activity in
    # blood and soft tissue the rest (measured 4.3 % of the marrow dose for Sr-89 'icrp', 9.0 % 'label'
    # (half the marrow dose, the same soft tissue), 4.6 % for Ra-223 'icrp', 0.9 % 'label')
    assert run.mean_lung_dose_gy < 0.10 * rm


def _reference_case(name: str, choice: str, target: str):
    key = (name, choice, target)
    marks = [pytest.mark.xfail(strict=True, reason=MISSES[key])] if key in MISSES else []
    return pytest.param(name, choice, target, marks=marks, id=f"{name}-{choice}-{target.replace(' ', '_')}")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "choice", "target"),
    [_reference_case(n, c, t) for n, c in CHOICES for t in ("red marrow", "bone surfaces")],
)
def test_icrp110_female_against_the_reference_doses(icrp_runs, name: str, choice: str, target: str) -> None:
    # published biokinetics, nothing fitted: the mean active-marrow and bone-surface doses per MBq within
    # the 20 % of the references (the phantom is a 60 kg woman, the references are for the 70 kg
    # reference man). Measured (default 'label' biokinetics): Sr-89 10.5 (-4 %) / 17.2 (+1 %), Sm-153 1.59
    # (+3 %) / 6.59 (-3 %), Ra-223 196 (+41 %) / 1489 (+29 %) mGy/MBq; 'icrp': Sr-89 21.4 (+94 %) / 20.1
    # (+18 %), Ra-223 104 (-25 %) / 762 (-34 %)
    run = icrp_runs[name, choice]
    rm_ref, bs_ref = REFERENCE[name]
    if target == "red marrow":
        assert run.result.red_marrow_gy == pytest.approx(rm_ref, rel=0.20)
    else:
        assert run.result.bone_surface_gy == pytest.approx(bs_ref, rel=0.20)


@pytest.fixture(scope="module")
def sample_case():
    """The sample patient at 10 x 4 x 4 mm (a quick segmentation)."""
    from hbiview.pipeline import load_case
    from hbiview.sample import make_phantom

    case = load_case(make_phantom(spacing_mm=(10, 4, 4)).ct)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case.anatomy  # noqa: B018
    return case


def test_lesion_mask_moves_activity_without_creating_it(sample_case) -> None:
    from hbiview.labels import MARROW_SITES
    from hbiview.systemic import compute_systemic
    from hbiview.volume import Structure

    anatomy = sample_case.anatomy
    lumbar = anatomy.site_labels == MARROW_SITES.index("lumbar_spine") + 1
    lesion = Structure(sample_case.ct.geometry, lumbar, name="L-spine lesions")
    uniform = compute_systemic(sample_case, "sr89", activity_mbq=150)
    hot = compute_systemic(sample_case, "sr89", activity_mbq=150, uptake=lesion, lesion_ratio=5.0)
    # the same decays in the skeleton (the biokinetic model fixes them), redistributed (1e-6: float sums)
    assert hot.energy_emitted_j == pytest.approx(uniform.energy_emitted_j, rel=1e-6)
    assert hot.bone_surface_gy == pytest.approx(uniform.bone_surface_gy, rel=1e-6)
    # the lesion's site gets more (its trabecular activity x up to 5 over its share), the others less
    ratio = hot.site_red_marrow_gy["lumbar_spine"] / uniform.site_red_marrow_gy["lumbar_spine"]
    assert 2.0 < ratio < 5.0
    assert hot.site_red_marrow_gy["cranium"] < uniform.site_red_marrow_gy["cranium"]
    assert "lesion mask" in hot.uptake


def test_uptake_image_equal_everywhere_is_uniform(sample_case) -> None:
    from hbiview.systemic import compute_systemic
    from hbiview.volume import Volume

    image = Volume(sample_case.ct.geometry, np.full(sample_case.ct.geometry.shape, 7.0, np.float32))
    flat = compute_systemic(sample_case, "sm153", activity_mbq=1000, uptake=image)
    uniform = compute_systemic(sample_case, "sm153", activity_mbq=1000)
    # a constant uptake image is no weighting at all: same dose map (float32 round-off)
    np.testing.assert_allclose(flat.dose.array, uniform.dose.array, rtol=1e-5, atol=1e-7)


def test_activity_per_kg_uses_the_body_mass(sample_case) -> None:
    from hbiview.systemic import compute_systemic

    a = compute_systemic(sample_case, "sm153", activity_mbq_per_kg=37)
    assert a.activity_mbq == pytest.approx(37 * a.body_mass_kg, rel=1e-9)
    assert 50 < a.body_mass_kg < 90  # an adult's mass from the sample's CT densities


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activity_mbq": -5}, "positive"),
        ({"activity_mbq": 5, "activity_mbq_per_kg": 1}, "not both"),
        ({"grid_mm": 0.1}, "between 1 and 20"),
        ({"uptake": "hot"}, "uniform"),
    ],
)
def test_bad_input_names_what_is_wrong(sample_case, kwargs, message) -> None:
    from hbiview.errors import InputError
    from hbiview.systemic import compute_systemic

    with pytest.raises(InputError, match=message):
        compute_systemic(sample_case, "sr89", **kwargs)


@pytest.mark.slow
def test_icrp110_female_strontium_soft_tissue_against_metastron(icrp_runs) -> None:
    # strontium in blood and soft tissue (the ICRP model's ST0-ST2) irradiates every organ: the Metastron
    # label (ICRP 53) gives its soft-tissue organs (kidneys, ovaries, testes, uterine wall) 0.8 mGy/MBq;
    # the phantom's lungs get that plus the betas from the edge of the ribs and spine (measured 0.95).
    # 20 %: the tolerance; the label's organs see no bone betas
    lung = icrp_runs["sr89", "label"].mean_lung_dose_gy
    assert lung == pytest.approx(0.8e-3, rel=0.20)


def test_icrp_biokinetics_on_the_sample_patient(sample_case) -> None:
    from hbiview.systemic import agent, compute_systemic, skeletal_model

    label = compute_systemic(sample_case, "sr89", activity_mbq=150)
    icrp = compute_systemic(sample_case, "sr89", activity_mbq=150, biokinetics="icrp")
    assert label.label == "Sr-89 150 MBq" and icrp.label == "Sr-89 150 MBq (ICRP)"
    # the same decays in the body (only their place in bone moves; 1e-6: float sums), and the marrow dose
    # ratio of the two reference adults (21.3 / 10.4) on the patient within 10 % (its own marrow weights)
    assert icrp.energy_emitted_j == pytest.approx(label.energy_emitted_j, rel=1e-6)
    model = skeletal_model()
    expected = (
        model.reference_doses_gy_per_mbq(agent("sr89", "icrp"))["RM"]
        / model.reference_doses_gy_per_mbq(agent("sr89"))["RM"]
    )
    assert icrp.red_marrow_gy / label.red_marrow_gy == pytest.approx(expected, rel=0.10)
