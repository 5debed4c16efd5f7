"""Landmarks and vertebral levels against the phantom's true positions."""

from __future__ import annotations

import warnings

import pytest

from hbiview.anatomy import LANDMARK_NAMES, VERTEBRAE, Landmark, Landmarks, find_landmarks
from hbiview.errors import HbiviewWarning

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def _tolerance(phantom) -> float:
    # goal of the issue: one slice plus 10 mm
    return float(phantom.geometry.spacing_mm[0]) + 10.0


def test_landmarks_within_one_slice_plus_10_mm(phantom, anatomy):
    tol = _tolerance(phantom)
    for name, z_true in phantom.landmarks_mm.items():
        z = anatomy.landmarks.z(name)
        assert z is not None, name
        assert abs(z - z_true) <= tol, (name, z, z_true)


def test_vertebral_levels_within_one_slice_plus_10_mm(phantom, anatomy):
    tol = _tolerance(phantom)
    for name, z_true in phantom.vertebrae_mm.items():
        z = anatomy.landmarks.z(name)
        assert z is not None and abs(z - z_true) <= tol, (name, z, z_true)


def test_find_landmarks_alone_agrees(phantom, anatomy):
    # its time is measured by benchmarks/bench_segment.py (segment() finds the landmarks), never here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        marks = find_landmarks(phantom.ct)
    # 3.5 mm pixels: nothing to warn about (the coarse-voxel warning starts at 4.5 mm)
    assert not [w for w in caught if issubclass(w.category, HbiviewWarning)]
    assert set(marks) == set(LANDMARK_NAMES) | set(VERTEBRAE)
    tol = _tolerance(phantom)
    for name, z_true in phantom.landmarks_mm.items():
        assert marks.z(name) is not None and abs(marks.z(name) - z_true) <= tol, name


def test_landmarks_api():
    marks = Landmarks({"iliac_crest": Landmark(-520.0, 0.8, "found"), "knees": Landmark(None, 0.0, "cut")})
    assert marks["iliac_crest"].z_mm == -520.0
    assert marks.z("knees") is None and not marks["knees"].in_scan
    assert marks.as_dict() == {"iliac_crest": -520.0, "knees": None}
    with pytest.raises(KeyError, match="unknown landmark"):
        marks["elbow"]
