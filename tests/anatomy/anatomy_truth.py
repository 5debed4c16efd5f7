"""Ground-truth helpers of the anatomy tests (the phantom's label values, hbiview.labels)."""

from __future__ import annotations

import numpy as np

from hbiview import labels as lb


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice similarity of two masks."""
    return float(2 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1))


def truth_masks(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Ground-truth masks of the roles, from the phantom's label volume (hbiview.labels)."""
    return {
        "Body": labels > 0,
        "Lung_L": labels == 4,
        "Lung_R": labels == 5,
        "Skeleton": labels >= lb.CORTICAL_OFFSET,
    }


def truth_sites(labels: np.ndarray) -> np.ndarray:
    """Site label (0 none, i + 1 for MARROW_SITES[i]) of the phantom's active-marrow cancellous voxels."""
    offset = labels.astype(np.int32) - lb.CANCELLOUS_OFFSET
    active = (offset >= 0) & (offset < len(lb.MARROW_SITES))
    return np.where(active, offset + 1, 0).astype(np.uint8)
