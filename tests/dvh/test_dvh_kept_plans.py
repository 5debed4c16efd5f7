"""DVH samples from kept sample plans (issue 14's speed) against the plain computation, and the plans' memory.

The plain computation is what :mod:`hbiview.dosevolume` did before plans were kept, written out here: the
structure cropped to its box (supersampled if asked), its voxel indices, their dose-grid coordinates
through the index-to-index affine and :func:`scipy.ndimage.map_coordinates` (trilinear, ``nearest`` at the
edges, written to float32 like the dose), or plain indexing when the grids coincide.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
from scipy import ndimage

from hbiview import dosevolume
from hbiview.dosevolume import _auto_factor, _bbox, _same_grid_box, _sample, dvh
from hbiview.geometry import Geometry
from hbiview.volume import DoseGrid, Structure


def plain_samples(
    dose: DoseGrid, structure: Structure, supersample: int | str = "auto"
) -> tuple[np.ndarray, float, np.ndarray | None, float, int]:
    """Dose samples of a mask structure the plain way: (values, sample_cc, weights, outside_cc, factor)."""
    box = _bbox(structure.array)
    assert box is not None
    lo, hi = box
    sub = structure.array[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    factor = _auto_factor(int(np.count_nonzero(sub))) if supersample == "auto" else int(supersample)
    geometry = structure.geometry.cropped(lo, hi)
    weights = (
        None if structure.weights is None else structure.weights[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    )
    if factor > 1:
        geometry = geometry.subdivided(factor)
        sub = np.repeat(np.repeat(np.repeat(sub, factor, 0), factor, 1), factor, 2)
        if weights is not None:
            weights = np.repeat(
                np.repeat(np.repeat(weights * np.float32(1.0 / factor**3), factor, 0), factor, 1), factor, 2
            )
    sample_cc = geometry.voxel_volume_cc
    same = _same_grid_box(dose.geometry, geometry)
    if same is not None:
        w = None if weights is None else weights[sub].astype(np.float64)
        return dose.array[same][sub].astype(np.float64), sample_cc, w, 0.0, factor
    idx = np.nonzero(sub)
    matrix = geometry.map_indices_from(dose.geometry)
    shape = np.asarray(dose.geometry.shape)
    rot, offset = matrix[:3, :3], matrix[:3, 3]
    if np.allclose(rot, np.eye(3), atol=1e-6) and np.allclose(offset, np.round(offset), atol=1e-4):
        coords_i = np.stack(idx) + np.round(offset).astype(np.int64)[:, None]
        inside = np.all((coords_i >= 0) & (coords_i < shape[:, None]), axis=0)
        values = dose.array[tuple(coords_i[:, inside])].astype(np.float64)
    else:
        coords = rot @ np.stack(idx).astype(np.float64) + offset[:, None]
        inside = np.all((coords >= -0.5) & (coords <= (shape - 0.5)[:, None]), axis=0)
        values = ndimage.map_coordinates(
            dose.array, coords[:, inside], order=1, mode="nearest", prefilter=False
        ).astype(np.float64)
    w = None if weights is None else weights[idx].astype(np.float64)[inside]
    return values, sample_cc, w, float(np.count_nonzero(~inside) * sample_cc), factor


def assert_same_samples(dose: DoseGrid, structure: Structure, supersample: int | str = "auto") -> None:
    got = _sample(dose, structure, supersample)
    want = plain_samples(dose, structure, supersample)
    # identical bit for bit: the kept plan reads the same dose-grid voxels and forms the same products in
    # the same order as map_coordinates (corners of weight 0 left out, which adds exact zeros); should a
    # scipy release change its order of operations, samples may differ by one float32 ulp (6e-8 relative)
    assert np.array_equal(got[0], want[0]), structure.name
    assert got[1:2] == want[1:2] and got[3:] == want[3:], structure.name  # sample volume, outside, factor
    if want[2] is None:
        assert got[2] is None
    else:
        assert got[2] is not None and np.array_equal(got[2], want[2]), structure.name


def smooth_dose(geometry: Geometry, seed: int) -> DoseGrid:
    """A dose with structure at every scale (a random field smoothed over 2 voxels, 0-8 Gy)."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.random(geometry.shape), 2.0)
    field = (field - field.min()) / (field.max() - field.min())
    return DoseGrid(geometry, 8.0 * field, fractions=1)


def ellipsoid(geometry: Geometry, centre_mm, radii_mm, name: str, weighted: bool = False) -> Structure:
    lps = geometry.index_to_lps(np.stack(np.indices(geometry.shape), axis=-1))
    mask = (((lps - np.asarray(centre_mm)) / np.asarray(radii_mm)) ** 2).sum(axis=-1) <= 1.0
    weights = None
    if weighted:
        weights = np.where(mask, 1.0 + lps[..., 0] / 100.0, 0.0) / max(1, np.count_nonzero(mask))
    return Structure(geometry, mask, name=name, weights=weights)


def rotation(angle_deg: float, axis: int) -> np.ndarray:
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    r = np.eye(3)
    i, j = [a for a in range(3) if a != axis]
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


@pytest.fixture(autouse=True)
def _fresh_plans():
    dosevolume._PLANS.clear()
    yield
    dosevolume._PLANS.clear()


def test_non_aligned_grids_give_the_plain_samples_on_every_dose() -> None:
    # a 5 mm dose grid offset by fractions of a voxel on every axis from a 3.5 x 3.5 x 2.5 mm structure
    # grid; the structures reach past the dose grid's last planes (clamped corners, samples left out)
    dose_grid = Geometry.from_spacing((14, 16, 18), (5.0, 5.0, 5.0), (-41.3, -37.9, -44.6))
    ct = Geometry.from_spacing((30, 36, 40), (2.5, 3.5, 3.5), (-38.0, -60.0, -36.0))
    structures = [
        ellipsoid(ct, (0, 0, 0), (30, 35, 40), "large"),
        ellipsoid(ct, (5, 10, 20), (25, 60, 50), "past the dose grid", weighted=True),
        ellipsoid(ct, (-3, 4, -6), (4, 5, 6), "small: supersampled"),
    ]
    for seed in (1, 2):  # a second dose on the same grid reads the kept plans
        dose = smooth_dose(dose_grid, seed)
        for structure in structures:
            assert_same_samples(dose, structure)
            assert_same_samples(dose, structure, supersample=3)
    plans = [plan for _, plan, _ in dosevolume._PLANS._plans.values()]
    assert {plan.kind for plan in plans} == {"separable"}  # the path under test
    assert any(plan.data["pad"] for plan in plans)  # samples within half a voxel beyond the outer centres


def test_random_axis_aligned_grids_give_the_plain_samples() -> None:
    # spacings, offsets and extents drawn at random: samples on dose-grid planes, between them, and in the
    # half voxel beyond the outer centres on either side
    rng = np.random.default_rng(14)
    for trial in range(25):
        dose_grid = Geometry.from_spacing(
            rng.integers(1, 9, 3), rng.choice([2.0, 2.5, 3.0, 5.0], 3), rng.uniform(-25.0, -5.0, 3)
        )
        ct = Geometry.from_spacing(
            rng.integers(6, 20, 3), rng.choice([1.0, 1.5, 2.5, 3.0], 3), rng.uniform(-30.0, -10.0, 3)
        )
        structure = ellipsoid(
            ct, rng.uniform(-10, 10, 3), rng.uniform(5, 25, 3), f"trial {trial}", weighted=True
        )
        if not structure.array.any():
            continue
        for seed in (trial, trial + 100):
            dose = smooth_dose(dose_grid, seed)
            assert_same_samples(dose, structure, supersample=1)
        # the general way (map_coordinates on kept coordinates; benchmarks time it): the same samples
        general = dosevolume._plan_samples(dose_grid, structure, 1, general=True)
        assert general.kind == "points"
        assert np.array_equal(general.values(dose), _sample(dose, structure, 1)[0])


def test_oblique_shifted_and_thin_grids_give_the_plain_samples() -> None:
    ct = Geometry.from_spacing((24, 30, 30), (3.0, 2.0, 2.0), (-36.0, -30.0, -30.0))
    body = ellipsoid(ct, (0, 0, 0), (30, 25, 28), "body", weighted=True)
    affine = np.eye(4)
    affine[:3, :3] = rotation(20.0, 0) @ rotation(10.0, 1) @ np.diag([6.0, 5.0, 5.0])
    affine[:3, 3] = (-30.0, -33.0, -36.0)
    oblique = Geometry((12, 14, 14), affine, None)
    shifted = Geometry.from_spacing((20, 24, 24), (3.0, 2.0, 2.0), (-28.0, -20.0, -24.0))  # whole voxels
    thin = Geometry.from_spacing((1, 16, 16), (5.0, 5.0, 5.0), (2.0, -37.0, -38.5))  # one plane thick
    for grid, kind in ((oblique, "points"), (shifted, "index"), (thin, "separable")):
        for seed in (3, 4):
            assert_same_samples(smooth_dose(grid, seed), body)
        assert [plan.kind for _, plan, _ in dosevolume._PLANS._plans.values()][-1] == kind


def test_a_kept_plan_follows_its_structure_and_the_dose_grid() -> None:
    dose_grid = Geometry.from_spacing((10, 12, 12), (5.0, 5.0, 5.0), (-22.0, -28.3, -27.1))
    ct = Geometry.from_spacing((20, 24, 24), (2.5, 2.5, 2.5), (-24.0, -30.0, -30.0))
    dose = smooth_dose(dose_grid, 5)
    a = ellipsoid(ct, (0, 0, 0), (15, 20, 20), "a")
    b = ellipsoid(ct, (0, 5, 0), (15, 10, 10), "b")  # same grid, other mask: its own plan
    first = dvh(dose, a)
    assert dvh(dose, b).total_volume_cc == pytest.approx(b.volume_cc, rel=1e-12)  # no outside: sum of samples
    again = dvh(dose, a)
    assert np.array_equal(first.volume_cc, again.volume_cc) and first.mean_gy == again.mean_gy
    # another dose-grid geometry: another plan (the first is kept beside it)
    finer = Geometry.from_spacing((20, 24, 24), (2.5, 2.5, 2.5), (-23.1, -29.2, -30.4))
    assert_same_samples(smooth_dose(finer, 6), a)
    assert len(dosevolume._PLANS._plans) == 3
    # a plan goes with its structure, at once
    held = dosevolume._PLANS.nbytes
    del a
    gc.collect()
    assert len(dosevolume._PLANS._plans) == 1
    assert 0 < dosevolume._PLANS.nbytes < held


def test_the_plans_stay_within_their_memory_budget(monkeypatch) -> None:
    dose_grid = Geometry.from_spacing((12, 14, 14), (5.0, 5.0, 5.0), (-31.0, -33.3, -34.1))
    ct = Geometry.from_spacing((24, 28, 28), (2.5, 2.5, 2.5), (-30.0, -35.0, -35.0))
    dose = smooth_dose(dose_grid, 7)
    structures = [ellipsoid(ct, (0, 0, z), (20, 25, 20), f"s{z}") for z in (-5, 0, 5, 10)]
    dvh(dose, structures[0])
    one = dosevolume._PLANS.nbytes
    assert one > 0
    # room for two plans: the least recently used goes; what is kept never exceeds the budget
    monkeypatch.setattr(dosevolume, "SAMPLE_CACHE_MB", 2.5 * one / 1e6)
    for structure in structures:
        dvh(dose, structure)
        assert dosevolume._PLANS.nbytes <= 2.5 * one
    assert len(dosevolume._PLANS._plans) == 2
    # a plan larger than the budget is not kept, and its DVH is still the plain one
    monkeypatch.setattr(dosevolume, "SAMPLE_CACHE_MB", 0.5 * one / 1e6)
    dosevolume._PLANS.clear()
    assert_same_samples(dose, structures[0])
    assert dosevolume._PLANS.nbytes == 0


@pytest.mark.slow
def test_border_change_on_the_sample_patient_gives_the_plain_dvhs(sample_ct_dir) -> None:
    from hbiview.pipeline import load_case, run_plan

    case = load_case(sample_ct_dir)
    first = run_plan(case, "upper-hbi", grid_mm=5.0)
    moved = run_plan(case, "upper-hbi", grid_mm=5.0, inferior="L3-L4")  # the same Case: plans kept
    assert moved.dose.geometry.isclose(first.dose.geometry, atol_mm=1e-9)
    assert not np.array_equal(moved.dose.array, first.dose.array)
    for run in (first, moved):
        for structure in case.structure_list():
            assert_same_samples(run.dose, structure)
    # what the kept plans cost: ~40 bytes per run of voxels along x (~66 000 runs), 8 per marrow sample
    # (47 000): 2.5 MB measured; the bound leaves room for segmentation changes, far below the 1.3 million
    # samples x 28 bytes (indices and weights per sample) that keeping coordinates would take
    assert dosevolume._PLANS.nbytes < 5e6
    # the run's own DVHs are those of the samples (dvh() only bins them)
    h = moved.dvhs["Body"]
    values = plain_samples(moved.dose, case.structures["Body"])[0]
    assert h.mean_gy == float(np.maximum(values, 0.0).mean())  # identical samples, identical mean
