"""Segmentation on real scans: a real abdomen-pelvis CT (TotalSegmentator's labels as the peer) and the
ICRP 110 adult female phantom, whole and made harder (thicker slices, noise, cropped).

The data live in ``shared/data`` beside the repository (never copied into it); the tests skip without them.
Goals of issue 11; the measured values are in the README's anatomy section.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from realdata import (
    TS_BONES,
    TS_CORD,
    TS_LUNGS,
    coarsened,
    cropped,
    data_dir,
    dice,
    finer,
    icrp,
    noisy,
    real_ct,
)

from hbiview.anatomy import segment

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def _segment(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return segment(case.ct)


@pytest.fixture(scope="module")
def real_case(shared_dir):
    return real_ct(data_dir(shared_dir, "real_ct") / "totalsegmentator_abdomen")


@pytest.fixture(scope="module")
def icrp_case(shared_dir):
    return icrp(data_dir(shared_dir, "icrp110_adult_female"))


#: Real CT variants: (name, how to make it, skeleton, lungs, cord-in-canal goals). The whole CT (3 mm) carries
#: the issue's goals; 6 mm slabs lose the thin posterior arches and ribs to partial volume (measured 0.85,
#: 0.87, 0.88), so their goals are 0.80 / 0.85 / 0.85.
REAL_VARIANTS = {
    "whole": (lambda c: c, 0.85, 0.90, 0.90),
    "noise 30 HU": (lambda c: noisy(c, 30.0), 0.85, 0.90, 0.90),
    "6 mm slices": (lambda c: coarsened(c, 2), 0.80, 0.85, 0.85),
    "6 mm slices, noise 30 HU": (lambda c: noisy(coarsened(c, 2), 30.0), 0.80, 0.85, 0.85),
    # without the pelvis, thin bone (ribs, transverse processes: 1-2 pixels, partly below 150 HU) weighs
    # more: measured 0.82
    "L1 to the lung bases": (lambda c: cropped(c, 60, 112), 0.80, 0.90, 0.90),
    "pelvis to L3": (lambda c: cropped(c, 0, 60), 0.85, None, 0.90),
    # a clinical 1 mm pixel grid (segmented on 2 mm): the labels keep their 3 mm block edges while the
    # segmentation follows the interpolated CT, which costs the skeleton's Dice about 0.02 (measured 0.83;
    # 0.855 compared on the 3 mm grid); cord 0.90 (the interpolation smears the thin laminae)
    "1 mm pixels, noise 30 HU": (lambda c: noisy(finer(c, 3), 30.0), 0.80, 0.90, 0.85),
}


@pytest.mark.parametrize("variant", list(REAL_VARIANTS))
def test_real_ct_against_totalsegmentator(real_case, variant):
    make, skeleton_goal, lung_goal, cord_goal = REAL_VARIANTS[variant]
    case = make(real_case)
    result = _segment(case)
    ts = case.labels["ts"]
    s = result.structures
    # skeleton: vertebrae, sacrum, hips, femurs and ribs of TotalSegmentator (a trained model's output, a
    # strong peer); the cancellous interior (50-250 HU here) must be inside the bone
    assert dice(s["Skeleton"].mask, np.isin(ts, TS_BONES)) >= skeleton_goal
    lungs = np.isin(ts, TS_LUNGS)
    if lung_goal is None:
        assert not lungs.any() and not s["Lungs"].mask.any()
    else:
        # only the lung bases (about 110 cm3 over 11 slices at the top edge) are in this scan
        assert dice(s["Lungs"].mask, lungs) >= lung_goal
    cord = ts == TS_CORD
    inside = np.count_nonzero(cord & s["SpinalCanal"].mask) / np.count_nonzero(cord)
    assert inside >= cord_goal


def test_real_ct_canal_is_a_canal(real_case):
    result = _segment(real_case)
    canal = result.structures["SpinalCanal"].mask
    # TotalSegmentator's sacrum and S1 include the sacral canal: compare with the vertebrae L5 to C1
    bone = np.isin(real_case.labels["ts"], range(27, 51))
    # the canal is not bone: at most its partial-volume rim (5 %) overlaps TotalSegmentator's vertebrae
    above_sacrum = bone.any(axis=(1, 2))
    assert np.count_nonzero(canal & bone) <= 0.05 * np.count_nonzero(canal[above_sacrum])
    # and it is a canal, not the body's interior: an adult lumbar and lower thoracic canal holds 2-4 cm3 per
    # 1 cm of length (vertebral foramen 150-350 mm2 + partial volume); the scan has the canal over 30 cm
    cm3_per_cm = canal.sum() * real_case.ct.geometry.voxel_volume_cc / (canal.any(axis=(1, 2)).sum() * 0.3)
    assert 1.0 <= cm3_per_cm <= 4.0


def _share_above_crest(case, result) -> tuple[float, float]:
    """Active marrow above the top of the pelvis: the phantom's red-marrow map and hbiview's weights."""
    z = case.ct.geometry.axis_coordinates_mm()[0]
    pelvis = np.isin(case.labels["organ"], (41, 42))  # ICRP 110 organ ids of the os coxae
    crest = z[np.flatnonzero(pelvis.any(axis=(1, 2))).max()]
    mass = case.labels["red_marrow_g"]
    weights = result.structures["Marrow"].weights
    ref = float(mass[z >= crest].sum(dtype=np.float64) / mass.sum(dtype=np.float64))
    got = float(weights[z >= crest].sum(dtype=np.float64) / weights.sum(dtype=np.float64))
    return ref, got


#: ICRP 110 variants (arrays are feet first here: slice 0 at the soles): the whole phantom with noise
#: (4.84 mm slices), thighs to neck, and that on 9.7 mm slices.
ICRP_VARIANTS = {
    "whole, noise 30 HU": (lambda c: noisy(c, 30.0), 0.80),
    "thighs to neck": (lambda c: cropped(c, 150, 300), 0.80),
    "thighs to neck, 9.7 mm slices": (lambda c: coarsened(cropped(c, 150, 300), 2), 0.80),
}


@pytest.mark.parametrize("variant", list(ICRP_VARIANTS))
def test_icrp110_phantom(icrp_case, variant):
    make, skeleton_goal = ICRP_VARIANTS[variant]
    case = make(icrp_case)
    result = _segment(case)
    s = result.structures
    # goals of the issue: lungs >= 0.95, skeleton (cortical bone, spongiosa and medullary cavities) >= 0.80
    assert dice(s["Lungs"].mask, case.labels["lungs"]) >= 0.95
    assert dice(s["Skeleton"].mask, case.labels["skeleton"]) >= skeleton_goal
    # the share of active marrow above the top of the pelvis (of the marrow inside the scan), from
    # hbiview's per-site weights (ICRP 89 shares spread over the marrow found) against the phantom's own
    # red-marrow map: within 0.03 (issue 11)
    ref, got = _share_above_crest(case, result)
    assert got == pytest.approx(ref, abs=0.03)
