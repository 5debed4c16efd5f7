"""Value types of the anatomy module: landmarks, the segmentation result, display colours.

This module imports only numpy and hbiview's own value types, so ``import hbiview.anatomy`` stays light.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hbiview.labels import LANDMARK_NAMES, MARROW_SITES, VERTEBRAE
from hbiview.volume import Structure

__all__ = [
    "COLORS",
    "LANDMARK_NAMES",
    "VERTEBRAE",
    "AnatomyResult",
    "Landmark",
    "Landmarks",
    "color_of",
]

#: Display colours (RGB 0-255) of hbiview's structure roles.
COLORS: dict[str, tuple[int, int, int]] = {
    "Body": (236, 200, 170),
    "Lungs": (90, 150, 230),
    "Lung_L": (70, 130, 220),
    "Lung_R": (120, 180, 250),
    "Skeleton": (240, 232, 205),
    "Marrow": (200, 30, 45),
    "SpinalCanal": (250, 210, 40),
}

#: Colours of the marrow sites (reds and oranges), in the order of :data:`hbiview.labels.MARROW_SITES`.
SITE_COLORS: dict[str, tuple[int, int, int]] = {
    "cranium": (178, 34, 34),
    "mandible": (205, 92, 92),
    "scapulae": (220, 120, 60),
    "clavicles": (240, 150, 80),
    "sternum": (255, 99, 71),
    "ribs": (220, 20, 60),
    "cervical_spine": (199, 21, 133),
    "thoracic_spine": (160, 0, 40),
    "lumbar_spine": (230, 60, 30),
    "sacrum": (255, 140, 0),
    "pelvis_os_coxae": (190, 70, 20),
    "femora_upper_half": (250, 110, 110),
    "humeri_upper_half": (255, 160, 122),
}


def color_of(name: str) -> tuple[int, int, int]:
    """Display colour of a structure role or marrow site (yellow for anything else)."""
    if name in COLORS:
        return COLORS[name]
    site = name.removeprefix("Marrow_").removeprefix("Bone_")
    return SITE_COLORS.get(site, (255, 220, 0))


@dataclass(frozen=True)
class Landmark:
    """The axial position of an anatomical landmark.

    Parameters
    ----------
    z_mm
        Patient z (LPS, mm, towards the head) of the landmark, or ``None`` when it is not in the scan.
    confidence
        0 (a guess) to 1 (found directly in the image).
    note
        How it was found, or why it is missing.
    position
        For a landmark not in the scan: ``"above_scan"`` or ``"below_scan"`` (it lies beyond that end of
        the images), or ``None`` when the image does not tell (not found although it should be there).
    estimate_mm
        For a landmark not in the scan: its z (LPS mm) estimated from the landmarks found (typical adult
        proportions scaled to the patient), never inside the scan when ``position`` is set; ``None`` when
        nothing was found to estimate it from.
    """

    z_mm: float | None
    confidence: float
    note: str = ""
    position: str | None = None
    estimate_mm: float | None = None

    @property
    def in_scan(self) -> bool:
        """Whether the landmark lies inside the scanned range."""
        return self.z_mm is not None


class Landmarks(Mapping[str, Landmark]):
    """Read-only mapping landmark name -> :class:`Landmark`.

    Names are :data:`LANDMARK_NAMES` and the vertebral levels :data:`VERTEBRAE` (``"C1"`` .. ``"S1"``).

    Examples
    --------
    >>> lm = Landmarks({"iliac_crest": Landmark(-520.0, 0.9, "top of the iliac crests")})
    >>> lm.z("iliac_crest")
    -520.0
    """

    def __init__(self, items: Mapping[str, Landmark]) -> None:
        self._items: dict[str, Landmark] = dict(items)

    def __getitem__(self, name: str) -> Landmark:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items) or "none"
            raise KeyError(f"unknown landmark {name!r}; known: {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def z(self, name: str) -> float | None:
        """Patient z (mm) of ``name``, or ``None`` when it is not in the scan."""
        return self[name].z_mm

    def as_dict(self) -> dict[str, float | None]:
        """Name -> z (mm) or ``None``."""
        return {name: lm.z_mm for name, lm in self._items.items()}

    def __repr__(self) -> str:
        parts = [f"{n}={'-' if v.z_mm is None else f'{v.z_mm:.0f}'}" for n, v in self._items.items()]
        return f"Landmarks({', '.join(parts)})"


@dataclass(frozen=True, eq=False)
class AnatomyResult:
    """Structures, marrow sites and landmarks found on (or imported for) one CT.

    Parameters
    ----------
    structures
        Name -> :class:`~hbiview.volume.Structure` on the CT grid: at least ``"Body"``, ``"Lung_L"``,
        ``"Lung_R"``, ``"Lungs"``, ``"Skeleton"`` and ``"Marrow"``; imported structures keep their own names.
        ``structures["Marrow"].weights`` holds each voxel's fraction of the body's active marrow.
    site_labels
        uint8 volume on the CT grid: 0 outside marrow, ``i + 1`` for marrow of site
        ``hbiview.labels.MARROW_SITES[i]``.
    landmarks
        Axial landmarks and vertebral levels.
    site_fractions
        Marrow site -> fraction of the body's active marrow it carries inside the scan.
    missing_marrow_sites
        Sites with no marrow inside the scan (or only part of it; see ``notes``).
    missing_marrow_fraction
        Fraction of the body's active marrow outside the scan (1 minus the sum of the weights).
    notes
        Human-readable remarks: sites cut by the scan edge, what was imported, what could not be found.
    """

    structures: dict[str, Structure]
    site_labels: np.ndarray
    landmarks: Landmarks
    site_fractions: dict[str, float]
    missing_marrow_sites: list[str]
    missing_marrow_fraction: float
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        labels = np.asarray(self.site_labels, dtype=np.uint8).view()
        labels.setflags(write=False)
        object.__setattr__(self, "site_labels", labels)
        # plain dicts (copies), so that results pickle (multiprocessing, caches)
        object.__setattr__(self, "structures", dict(self.structures))
        object.__setattr__(self, "site_fractions", dict(self.site_fractions))

    @property
    def marrow_fraction_in_scan(self) -> float:
        """Fraction of the body's active marrow inside the scan (sum of the marrow weights)."""
        return float(sum(self.site_fractions.values()))

    def marrow_site(self, site: str) -> Structure:
        """The marrow of one site as a structure (mask and weights), e.g. ``"thoracic_spine"``."""
        if site not in MARROW_SITES:
            raise KeyError(f"unknown marrow site {site!r}; known: {', '.join(MARROW_SITES)}")
        marrow = self.structures["Marrow"]
        mask = self.site_labels == MARROW_SITES.index(site) + 1
        weights = None if marrow.weights is None else np.where(mask, marrow.weights, 0).astype(np.float32)
        return Structure(marrow.geometry, mask, name=f"Marrow_{site}", color=color_of(site), weights=weights)

    def table(self) -> list[dict[str, Any]]:
        """One row per structure: name, volume (cm3) and active-marrow fraction (marrow rows only)."""
        rows: list[dict[str, Any]] = []
        for name, s in self.structures.items():
            frac = float(s.weights.sum(dtype=np.float64)) if s.weights is not None else None
            rows.append({"name": name, "volume_cc": s.volume_cc, "active_marrow_fraction": frac})
        voxel_cc = self.structures["Marrow"].geometry.voxel_volume_cc
        counts = np.bincount(self.site_labels.ravel(), minlength=len(MARROW_SITES) + 1)
        for i, site in enumerate(MARROW_SITES):
            rows.append(
                {
                    "name": f"Marrow_{site}",
                    "volume_cc": float(counts[i + 1] * voxel_cc),
                    "active_marrow_fraction": float(self.site_fractions.get(site, 0.0)),
                }
            )
        return rows
