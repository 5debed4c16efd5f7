"""The patient's outline and the relative electron density the dose engine walks through.

The outline is found by a threshold and hole filling: voxels above -400 HU, holes (lungs, airways, bowel gas)
filled slice by slice, then the largest 3D connected piece (which drops the couch and stray noise when they
are separated from the patient by air). It is deliberately simple: the dose engine only needs "inside the
patient or not" and the plans only need the patient's extent.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from hbiview.density import HuDensityTable, hu_to_density
from hbiview.geometry import Geometry
from hbiview.volume import CTVolume, resample_array

__all__ = ["BODY_THRESHOLD_HU", "body_extent_mm", "body_mask", "density_on"]

#: Soft tissue and fat lie above this, air below; lung (-900 to -700 HU) is inside holes filled per slice.
BODY_THRESHOLD_HU = -400.0


def body_mask(hu: np.ndarray) -> np.ndarray:
    """Boolean mask of the patient in a ``(z, y, x)`` HU array.

    Parameters
    ----------
    hu
        Hounsfield units on any grid (axial slices along the first axis).

    Returns
    -------
    numpy.ndarray
        ``True`` inside the patient (holes such as the lungs included), same shape as ``hu``.
    """
    mask = np.asarray(hu) > BODY_THRESHOLD_HU
    for k in range(mask.shape[0]):
        if mask[k].any():
            mask[k] = ndimage.binary_fill_holes(mask[k])
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        mask = labels == int(np.argmax(sizes))
    return mask


def density_on(
    ct: CTVolume,
    target: Geometry,
    *,
    heterogeneity: bool = True,
    table: HuDensityTable | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Relative electron density and the body mask of ``ct`` on the grid ``target``.

    Parameters
    ----------
    ct
        The CT.
    target
        The grid to resample onto (trilinear in HU).
    heterogeneity
        ``False`` gives water (1.0) everywhere inside the body.
    table
        HU-to-density calibration (default :func:`hbiview.density.default_table`).

    Returns
    -------
    density, mask
        float32 relative electron density (0 outside the body) and the boolean body mask, both on ``target``.
    """
    hu = resample_array(ct.array, ct.geometry, target, order=1, fill_value=-1000.0)
    mask = body_mask(hu)
    if heterogeneity:
        density = hu_to_density(hu, table).astype(np.float32)
        density[~mask] = 0.0
    else:
        density = mask.astype(np.float32)
    return density, mask


def body_extent_mm(ct: CTVolume, spacing_mm: float = 5.0) -> tuple[Geometry, np.ndarray]:
    """The body mask of ``ct`` on a coarse axial grid, for plan geometry (field borders, separations).

    Parameters
    ----------
    ct
        The CT.
    spacing_mm
        Spacing (mm) of the coarse grid.

    Returns
    -------
    geometry, mask
        The coarse grid (covering the CT) and the body mask on it.
    """
    lower, upper = ct.geometry.bounds_mm()
    geometry = Geometry.box(lower, upper, spacing_mm, ct.geometry.frame_of_reference_uid)
    hu = resample_array(ct.array, ct.geometry, geometry, order=1, fill_value=-1000.0)
    return geometry, body_mask(hu)
