"""Names shared by the phantom's ground truth, the segmentation and the marrow model.

Label values of the ground-truth volume returned by :func:`hbiview.sample.make_phantom`:

* ``0`` outside the body (air, couch);
* ``1..99`` soft tissues and air spaces (:data:`TISSUE_LABELS`);
* ``100 + i`` the cortical shell and ``200 + i`` the cancellous (marrow-holding) interior of bone site
  ``BONE_SITES[i]``.
"""

from __future__ import annotations

__all__ = [
    "BONE_SITES",
    "CANCELLOUS_OFFSET",
    "CORTICAL_OFFSET",
    "LANDMARK_NAMES",
    "MARROW_SITES",
    "TISSUE_LABELS",
    "VERTEBRAE",
    "VERTEBRA_HEIGHT_MM",
    "bone_site_of_label",
    "cancellous_label",
    "cortical_label",
    "typical_vertebra_centres_mm",
]

#: Soft tissues and air spaces of the phantom, label value -> name.
TISSUE_LABELS: dict[int, str] = {
    1: "muscle",
    2: "fat",
    3: "skin",
    4: "lung_left",
    5: "lung_right",
    6: "airway",
    7: "heart",
    8: "liver",
    9: "kidney_left",
    10: "kidney_right",
    11: "bowel_gas",
    12: "brain",
    13: "spinal_cord",
    14: "bowel",
    15: "spleen",
    16: "bladder",
}

#: Skeletal sites. The first thirteen hold the adult active marrow (ICRP 89 / Cristy 1981 sites, in the
#: order of ``red_marrow_distribution_adult.csv``); the others hold yellow marrow only in adults.
BONE_SITES: tuple[str, ...] = (
    "cranium",
    "mandible",
    "scapulae",
    "clavicles",
    "sternum",
    "ribs",
    "cervical_spine",
    "thoracic_spine",
    "lumbar_spine",
    "sacrum",
    "pelvis_os_coxae",
    "femora_upper_half",
    "humeri_upper_half",
    "femora_lower_half",
    "humeri_lower_half",
    "forearms",
    "hands",
    "tibiae_fibulae",
    "feet",
    "patellae",
)

#: The sites that carry active marrow in adults.
MARROW_SITES: tuple[str, ...] = BONE_SITES[:13]

CORTICAL_OFFSET = 100
CANCELLOUS_OFFSET = 200


def cortical_label(site: str) -> int:
    """Ground-truth label of the cortical shell of ``site``."""
    return CORTICAL_OFFSET + BONE_SITES.index(site)


def cancellous_label(site: str) -> int:
    """Ground-truth label of the cancellous interior of ``site``."""
    return CANCELLOUS_OFFSET + BONE_SITES.index(site)


def bone_site_of_label(label: int) -> str | None:
    """The bone site of a ground-truth label, or ``None`` for soft tissue and air."""
    if CORTICAL_OFFSET <= label < CORTICAL_OFFSET + len(BONE_SITES):
        return BONE_SITES[label - CORTICAL_OFFSET]
    if CANCELLOUS_OFFSET <= label < CANCELLOUS_OFFSET + len(BONE_SITES):
        return BONE_SITES[label - CANCELLOUS_OFFSET]
    return None


#: Body landmarks, head to feet: z (LPS mm) found by :func:`hbiview.anatomy.find_landmarks`, given as truth by
#: :func:`hbiview.sample.make_phantom`, and read by the plan presets for field borders.
LANDMARK_NAMES: tuple[str, ...] = (
    "vertex",
    "skull_base",
    "lung_apex",
    "lung_base",
    "iliac_crest",
    "femoral_heads",
    "knees",
    "ankles",
    "soles",
)

#: Vertebral levels, head to feet (centre of each vertebral body).
VERTEBRAE: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "S1",
)

#: Typical adult height (mm) of one vertebral body with the disc below it, per region: the usual
#: anatomy-text lengths of the adult spinal column with its discs (cervical about 12.5 cm, thoracic about
#: 30 cm, lumbar about 18 cm; e.g. Gray's Anatomy) divided by its 7, 12 and 5 vertebrae, rounded; the sacrum
#: (S1) as a lumbar level. The synthetic patient's spine (:mod:`hbiview.sample`, body and disc heights level
#: by level) averages to the same 18, 25 and 36 mm. Only the ratios matter where they are used: landmark
#: finding and the presets scale them between landmarks found on the patient. The one table of hbiview.
VERTEBRA_HEIGHT_MM: dict[str, float] = {"C": 18.0, "T": 25.0, "L": 36.0, "S": 36.0}


def typical_vertebra_centres_mm() -> tuple[float, ...]:
    """Centre of each of :data:`VERTEBRAE` below the top of C1 (mm, positive downwards), typical adult.

    From :data:`VERTEBRA_HEIGHT_MM`: C1's centre is half its height below its top, each next one a height
    further down.

    Examples
    --------
    >>> typical_vertebra_centres_mm()[:2]
    (9.0, 27.0)
    """
    out, top = [], 0.0
    for name in VERTEBRAE:
        height = VERTEBRA_HEIGHT_MM[name[0]]
        out.append(top + height / 2)
        top += height
    return tuple(out)
