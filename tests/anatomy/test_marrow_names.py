"""The active-marrow table and weighting, and the clinical name mapping."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from hbiview.anatomy.marrow import marrow_shares, marrow_weights
from hbiview.anatomy.names import load_names_map, map_structures, role_of
from hbiview.errors import HbiviewWarning, InputError, MissingInputError
from hbiview.geometry import Geometry
from hbiview.labels import MARROW_SITES
from hbiview.volume import Structure


def test_shares_equal_the_reference_table(reference_dir):
    # our packaged table must hold exactly the figures of red_marrow_distribution_adult.csv (ICRP 89)
    with open(reference_dir / "red_marrow_distribution_adult.csv", newline="") as handle:
        ref = {r["site"]: float(r["percent_of_active_marrow"]) / 100 for r in csv.DictReader(handle)}
    shares = marrow_shares()
    assert set(shares) == set(ref) == set(MARROW_SITES)
    total = sum(ref.values())
    assert total == pytest.approx(0.999, abs=1e-9)  # rounded percentages: 99.9, renormalised to 1
    for site, value in ref.items():
        assert shares[site] == pytest.approx(value / total, abs=1e-12)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)


def test_weights_spread_each_share_evenly():
    labels = np.zeros((4, 5, 6), dtype=np.uint8)
    labels[0, :2, :] = MARROW_SITES.index("ribs") + 1  # 12 voxels of ribs
    labels[2, 0, :3] = MARROW_SITES.index("sacrum") + 1  # 3 voxels of sacrum
    mw = marrow_weights(labels)
    # closed form: 16.1 % over 12 voxels, 9.9 % over 3 voxels (ICRP 89 shares, renormalised from 99.9 %)
    assert mw.weights[0, 0, 0] == pytest.approx(0.161 / 0.999 / 12, rel=1e-6)
    assert mw.weights[2, 0, 0] == pytest.approx(0.099 / 0.999 / 3, rel=1e-6)
    assert mw.weights[1].sum() == 0
    assert set(mw.missing_sites) == set(MARROW_SITES) - {"ribs", "sacrum"}
    assert mw.missing_fraction == pytest.approx(1 - (0.161 + 0.099) / 0.999, abs=1e-9)


def test_coverage_scales_a_cut_site():
    labels = np.full((2, 2, 2), MARROW_SITES.index("thoracic_spine") + 1, dtype=np.uint8)
    mw = marrow_weights(labels, {"thoracic_spine": 0.25})
    # a quarter of the thoracic spine in the scan carries a quarter of its 16.1 %
    assert float(mw.weights.sum(dtype=np.float64)) == pytest.approx(0.161 / 0.999 * 0.25, rel=1e-6)


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("Lt Lung", "Lung_L"),
        ("LUNG_L", "Lung_L"),
        ("Lung_Left", "Lung_L"),
        ("Rt Lung", "Lung_R"),
        ("Lung R", "Lung_R"),
        ("LungR", "Lung_R"),
        ("Lungs", "Lungs"),
        ("Lung_Total", "Lungs"),
        ("BODY", "Body"),
        ("External", "Body"),
        ("Skin", "Body"),
        ("Bone Marrow", "Marrow"),
        ("Sternum", "Bone_sternum"),
        ("Rib_L_3", "Bone_ribs"),
        ("Spine_Thoracic", "Bone_thoracic_spine"),
        ("Lungs-GTV", None),  # a target subtracted: not the organ
        ("PTV_Lung", None),
        ("Lung_L_PRV", None),
        ("Heart", None),
    ],
)
def test_role_of_clinical_names(name, role):
    assert role_of(name) == role


def test_user_mapping_files(tmp_path):
    toml = tmp_path / "names.toml"
    toml.write_text('[names]\n"PATIENT_OUTLINE" = "Body"\n"Lt Lung" = "ignore"\n')
    mapping = load_names_map(toml)
    assert role_of("patient_outline", mapping) == "Body"
    assert role_of("Lt Lung", mapping) is None
    js = tmp_path / "names.json"
    js.write_text(json.dumps({"LLL": "lung_l"}))
    assert role_of("LLL", load_names_map(js)) == "Lung_L"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"X": "Liver"}))
    with pytest.raises(InputError, match="unknown role 'Liver'"):
        load_names_map(bad)
    with pytest.raises(MissingInputError):
        load_names_map(tmp_path / "absent.toml")


def test_map_structures_sorts_roles_and_warns_on_duplicates():
    g = Geometry.from_spacing((2, 3, 3), (1, 1, 1))
    full = np.ones(g.shape, dtype=bool)
    items = [
        Structure(g, full, name="BODY"),
        Structure(g, full, name="External"),
        Structure(g, full, name="Heart"),
    ]
    with pytest.warns(HbiviewWarning, match="both map to Body"):
        roles, others = map_structures(items)
    assert list(roles) == ["Body"] and roles["Body"].name == "Body"
    assert list(others) == ["Heart"]


def test_dicompyler_names_map_to_roles(dicompyler_dir):
    from hbiview.io.rtstruct import list_rois

    names = {r.name for r in list_rois(dicompyler_dir / "rtss.dcm")}
    roles = {n: role_of(n) for n in names}
    # the real case's ROI names (README of the example): BODY and "Lt Lung" are roles, the rest are not
    assert roles["BODY"] == "Body" and roles["Lt Lung"] == "Lung_L"
    assert all(roles[n] is None for n in ("Heart", "Breast", "Tumor Bed", "Nodes", "Scar"))
