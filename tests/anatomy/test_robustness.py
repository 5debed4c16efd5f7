"""Real-world-like inputs built from the phantom: partial scans, arms up, a couch, a cut field of view."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from anatomy_truth import dice, truth_masks, truth_sites

from hbiview.anatomy import segment
from hbiview.anatomy.marrow import marrow_shares
from hbiview.errors import HbiviewWarning
from hbiview.sample import make_phantom

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def _segment(**kwargs):
    phantom = make_phantom(**kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HbiviewWarning)
        result = segment(phantom.ct)
    messages = [str(w.message) for w in caught if issubclass(w.category, HbiviewWarning)]
    return phantom, result, messages


def _assert_masks_sensible(phantom, result):
    truth = truth_masks(phantom.labels)
    # same goals as on the whole phantom: these inputs change what is around the patient, not the patient
    assert dice(result.structures["Body"].mask, truth["Body"]) >= 0.98
    for side in ("Lung_L", "Lung_R"):
        if truth[side].any():
            assert dice(result.structures[side].mask, truth[side]) >= 0.95
    assert dice(result.structures["Skeleton"].mask, truth["Skeleton"]) >= 0.85


def test_scan_from_the_diaphragm_to_the_pelvis():
    phantom, result, messages = _segment(z_range_mm=(950.0, 1280.0))
    _assert_masks_sensible(phantom, result)
    missing = set(result.missing_marrow_sites)
    # head, neck, shoulders and thighs are outside the scan: named as missing, with the share they carry
    assert {"cranium", "mandible", "cervical_spine", "clavicles", "femora_upper_half"} <= missing
    assert any("not in the scan" in m for m in messages)
    # the weights add up to the stated fraction in the scan (float32 sum)
    weights = result.structures["Marrow"].weights
    assert float(weights.sum(dtype=np.float64)) == pytest.approx(1 - result.missing_marrow_fraction, abs=1e-4)
    # the lumbar spine is whole in the scan and keeps its ICRP 89 share exactly
    assert result.site_fractions["lumbar_spine"] == pytest.approx(marrow_shares()["lumbar_spine"])
    # the thoracic spine is cut: only part of its share (vertebral levels T10-T12 of T1-T12 inside)
    assert 0.0 < result.site_fractions["thoracic_spine"] < 0.5 * marrow_shares()["thoracic_spine"]
    assert result.landmarks.z("vertex") is None and result.landmarks.z("knees") is None
    assert abs(result.landmarks.z("iliac_crest") - phantom.landmarks_mm["iliac_crest"]) <= 15.0


def test_arms_up():
    phantom, result, _ = _segment(arms="up", z_range_mm=(850.0, 1950.0))
    _assert_masks_sensible(phantom, result)
    truth = truth_sites(phantom.labels)
    both = (truth > 0) & (result.site_labels > 0)
    # raised humeri beside the head must not be called cranium: the same >= 90 % goal as arms down
    assert np.mean(result.site_labels[both] == truth[both]) >= 0.90


def test_couch_is_not_body():
    phantom, result, _ = _segment(couch=True, z_range_mm=(900.0, 1500.0))
    _assert_masks_sensible(phantom, result)
    # the couch lies below the back: no body voxel in the rows behind the patient's truth outline
    rows = np.nonzero(phantom.labels > 0)[1].max()
    assert not result.structures["Body"].mask[:, rows + 2 :, :].any()


def test_field_of_view_cutting_the_body():
    phantom, result, messages = _segment(fov_mm=360.0, z_range_mm=(900.0, 1500.0))
    _assert_masks_sensible(phantom, result)
    assert any("field of view cuts the body" in m for m in messages)
