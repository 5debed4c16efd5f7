"""BED/EQD2, per-voxel EQD2 DVHs, default alpha/beta, and the single-fraction pneumonitis references."""

from __future__ import annotations

import numpy as np
import pytest

from hbiview.dosevolume import dvh, metrics
from hbiview.errors import InputError
from hbiview.geometry import Geometry
from hbiview.radiobiology import (
    alpha_beta_for,
    assess_lung_dose,
    bed,
    clinical_references,
    default_alpha_beta,
    eqd2,
    eqd2_dvh,
    mean_bed,
    mean_eqd2,
    structure_kind,
)
from hbiview.volume import DoseGrid, Structure


def test_bed_and_eqd2_closed_form() -> None:
    # LQ closed form: 8 Gy x 1, alpha/beta 3 Gy: BED = 8 (1 + 8/3) = 29.33 Gy, EQD2 = 8 (8 + 3)/(2 + 3) = 17.6
    assert bed(8.0, 8.0, 3.0) == pytest.approx(8 * (1 + 8 / 3), rel=1e-12)
    assert eqd2(8.0, 8.0, 3.0) == pytest.approx(17.6, rel=1e-12)
    # 2 Gy fractions are their own EQD2 (definition), whatever alpha/beta
    assert eqd2(30.0, 2.0, 10.0) == pytest.approx(30.0, rel=1e-12)
    # 20 Gy / 5 fx, alpha/beta 10: BED 28 Gy, EQD2 23.33 Gy
    np.testing.assert_allclose(bed([20.0], [4.0], 10.0), [28.0], rtol=1e-12)
    assert eqd2(20.0, 4.0, 10.0) == pytest.approx(20 * 14 / 12, rel=1e-12)
    with pytest.raises(InputError, match="alpha/beta must be positive"):
        eqd2(8.0, 8.0, 0.0)


def test_references_and_defaults() -> None:
    refs = clinical_references()
    # Van Dyk et al. figures as in shared/reference/hbi_clinical.toml (copied facts, exact)
    assert refs["pneumonitis_single_fraction"]["onset_corrected_lung_dose_gy"] == 7.5
    assert refs["pneumonitis_single_fraction"]["incidence_5_percent_gy"] == 8.2
    assert "Van Dyk" in refs["pneumonitis_single_fraction"]["source"]
    assert default_alpha_beta() == {"lung": 3.0, "marrow": 10.0}  # issue 5 defaults
    assert structure_kind("Lt Lung") == "lung" and structure_kind("LUNG_R") == "lung"
    assert structure_kind("active_marrow") == "marrow" and structure_kind("Heart") is None
    assert structure_kind("PTV", {"ptv": "lung"}) == "lung"
    assert alpha_beta_for("Lung_L") == 3.0 and alpha_beta_for("marrow") == 10.0
    assert alpha_beta_for("Lung_L", {"lung": 4.0}) == 4.0
    assert alpha_beta_for("Heart", {"heart": 2.5}) == 2.5 and alpha_beta_for("Heart") is None


def test_assess_lung_dose_categories() -> None:
    assert assess_lung_dose(6.9).category == "below_onset"
    assert assess_lung_dose(7.8).category == "between_onset_and_5_percent"
    at = assess_lung_dose(8.2, heterogeneity_corrected=True)
    assert at.category == "at_or_above_5_percent" and "8.2 Gy" in at.text
    assert "without lung correction" in assess_lung_dose(7.0, heterogeneity_corrected=False).text
    frac = assess_lung_dose(12.0, fractions=5)
    assert frac.category == "not_applicable" and "single fractions" in frac.text


def test_per_voxel_eqd2_differs_from_converting_the_mean() -> None:
    # half the volume at 2 Gy, half at 10 Gy, single fraction, alpha/beta 3
    grid = Geometry.from_spacing((2, 2, 4), (5.0, 5.0, 5.0))
    dose = DoseGrid(grid, np.where(np.arange(4)[None, None, :] < 2, 2.0, 10.0) * np.ones(grid.shape))
    h = dvh(dose, Structure(grid, np.ones(grid.shape, bool), name="Lung"), supersample=1)
    # per voxel (closed form): mean of EQD2(2 Gy x1) = 2 and EQD2(10 x1) = 10 (10+3)/5 = 26 -> 14 Gy; exact
    # from the stored mean and mean square (float32 dose: 1e-6)
    assert mean_eqd2(h, 3.0) == pytest.approx((2.0 + 26.0) / 2, rel=1e-6)
    assert mean_bed(h, 3.0) == pytest.approx((2 * (1 + 2 / 3) + 10 * (1 + 10 / 3)) / 2, rel=1e-6)
    assert eqd2(h.mean_gy, h.mean_gy, 3.0) == pytest.approx(6 * 9 / 5)  # the mean converted: 10.8, not 14
    e = eqd2_dvh(h, 3.0)
    # the cumulative volume above EQD2(D) equals the volume above D (EQD2 grows with D): exact at edges
    assert e.v_gy(eqd2(5.0, 5.0, 3.0)) == pytest.approx(h.v_gy(5.0), rel=1e-9)
    assert e.max_gy == pytest.approx(eqd2(h.max_gy, h.max_gy, 3.0))
    m = metrics(h, alpha_beta_gy=3.0)
    assert m["mean_eqd2_gy"] == pytest.approx(14.0, rel=1e-6) and m["alpha_beta_gy"] == 3.0
    assert e.mean_gy == pytest.approx(14.0, rel=1e-6)  # the EQD2 DVH carries the per-voxel mean
