"""The real CT and the ICRP 110 phantom of ``shared/data`` with their reference masks, and harder variants.

Variants are made the way real scans differ: a thicker slice (the CT resampled linearly along z, the
reference masks by nearest neighbour), quantum noise (Gaussian, fixed seed), a shorter scan (cropped).
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hbiview.geometry import Geometry
from hbiview.volume import CTVolume, resample_array

#: TotalSegmentator labels of the bones the issue measures: sacrum, vertebrae S1..C1, femurs, hips, ribs.
TS_BONES = [25, *range(26, 51), 75, 76, 77, 78, *range(92, 116)]
TS_LUNGS = list(range(10, 15))
TS_CORD = 79


@dataclass
class Case:
    """A CT with reference label volumes on its grid (``labels``: name -> array)."""

    ct: CTVolume
    labels: dict[str, np.ndarray]


def data_dir(shared_dir: Path, name: str) -> Path:
    path = shared_dir / "data" / name
    if not path.is_dir():
        pytest.skip(f"shared/data/{name} is not on this machine")
    return path


def _onto(path: Path, ct: CTVolume) -> np.ndarray:
    from hbiview.io.masks import read_mask_array

    array, geometry = read_mask_array(path)
    if geometry.isclose(ct.geometry):
        return array
    return resample_array(array.astype(np.float32), geometry, ct.geometry, order=0, fill_value=0)


def real_ct(folder: Path) -> Case:
    """The real abdomen-pelvis CT with TotalSegmentator's label map."""
    from hbiview.io.dicom import read_ct

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct = read_ct(folder / "ct")
    return Case(ct, {"ts": _onto(folder / "segmentation.nii.gz", ct).astype(np.int16)})


def icrp(folder: Path) -> Case:
    """The ICRP 110 adult female phantom: organ ids, lungs, skeleton and red-marrow mass per voxel (g)."""
    from hbiview.io.dicom import read_ct

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct = read_ct(folder / "ct")
    organ = _onto(folder / "organ_id.nii.gz", ct).astype(np.int16)
    density = np.zeros(int(organ.max()) + 1)
    with (folder / "organs.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if int(row["organ_id"]) < density.size:
                density[int(row["organ_id"])] = float(row["density_g_cm3"])
    fraction = _onto(folder / "red_marrow_mass_fraction.nii.gz", ct).astype(np.float32)
    voxel_cm3 = float(np.prod(ct.geometry.spacing_mm)) / 1000.0
    return Case(
        ct,
        {
            "organ": organ,
            "lungs": _onto(folder / "lungs.nii.gz", ct) > 0,
            "skeleton": _onto(folder / "skeleton.nii.gz", ct) > 0,
            "red_marrow_g": (fraction * density[organ] * voxel_cm3).astype(np.float32),
        },
    )


def coarsened(case: Case, factor: int) -> Case:
    """The case on slices ``factor`` times thicker: the CT averaged over each slab (a thick slice), the
    label maps from the slab's middle slice, masses summed."""
    g = case.ct.geometry
    nz = g.shape[0] // factor * factor
    affine = g.affine.copy()
    affine[:3, 3] = g.affine[:3, 3] + (factor - 1) / 2 * g.affine[:3, 0]
    affine[:3, 0] = g.affine[:3, 0] * factor
    target = Geometry((nz // factor, *g.shape[1:]), affine, g.frame_of_reference_uid)

    def slabs(array: np.ndarray) -> np.ndarray:
        return array[:nz].reshape(nz // factor, factor, *array.shape[1:])

    hu = slabs(np.asarray(case.ct.array, dtype=np.float32)).mean(axis=1)
    labels = {}
    for name, array in case.labels.items():
        if array.dtype == np.float32:  # a mass per voxel
            labels[name] = slabs(array).sum(axis=1)
        else:
            labels[name] = np.ascontiguousarray(slabs(array)[:, factor // 2])
    return Case(CTVolume(target, hu.astype(np.float32)), labels)


def finer(case: Case, factor: int) -> Case:
    """The case on pixels ``factor`` times smaller (a clinical 1 mm grid from the 3 mm CT): the CT linearly
    interpolated, the label maps repeated in blocks (their edges stay as coarse as the original's)."""
    from scipy import ndimage

    g = case.ct.geometry
    hu = np.asarray(case.ct.array, dtype=np.float32)
    fine = ndimage.zoom(hu, (1, factor, factor), order=1, grid_mode=True, mode="nearest")
    affine = g.affine.copy()
    affine[:3, 1:3] /= factor
    # the first pixel's centre moves (factor - 1) / 2 new pixels towards the corner of the old one
    affine[:3, 3] -= (factor - 1) / 2 * (affine[:3, 1] + affine[:3, 2])
    labels = {k: np.repeat(np.repeat(v, factor, axis=1), factor, axis=2) for k, v in case.labels.items()}
    target = Geometry(fine.shape, affine, g.frame_of_reference_uid)
    return Case(CTVolume(target, fine, case.ct.metadata), labels)


def noisy(case: Case, sigma_hu: float, seed: int = 11) -> Case:
    """The case with Gaussian noise of ``sigma_hu`` added to the CT."""
    rng = np.random.default_rng(seed)
    hu = np.asarray(case.ct.array, dtype=np.float32)
    noise = rng.normal(0.0, sigma_hu, hu.shape).astype(np.float32)
    return Case(CTVolume(case.ct.geometry, hu + noise), case.labels)


def cropped(case: Case, k0: int, k1: int) -> Case:
    """Slices ``k0:k1`` of the case (array order)."""
    g = case.ct.geometry
    sub = g.cropped((k0, 0, 0), (k1, g.shape[1], g.shape[2]))
    ct = CTVolume(sub, np.asarray(case.ct.array)[k0:k1])
    return Case(ct, {name: array[k0:k1] for name, array in case.labels.items()})


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice similarity of two masks."""
    return float(2 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1))
