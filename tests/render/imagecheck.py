"""Image regression in the manner of pytest-pyvista's ``verify_image_cache``.

A render is compared with a stored reference picture in ``tests/render/baseline/`` by the mean absolute
difference of its pixels (0-255 per channel). ``HBIVIEW_UPDATE_BASELINES=1`` rewrites the references
(look at them before committing!). A missing reference is a failure, never a silent pass.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

BASELINE_DIR = Path(__file__).with_name("baseline")
#: where renders that failed (or have no reference yet) are saved for a look
FAILED_DIR = Path(tempfile.gettempdir()) / "hbiview-render-failures"

#: Mean absolute pixel error (0-255) allowed between a render and its reference. Re-renders on this machine
#: agree exactly (0.0); other Mesa (llvmpipe) and FreeType builds move anti-aliased edges and glyphs by a
#: pixel, which costs well under 1 on these pictures, while a mirrored view or a wrong colour map costs more
#: than 4 (test_images.py::test_verify_image_catches_a_mirrored_slice).
MEAN_ERROR_LIMIT = 2.0
#: Share of pixels allowed to differ strongly (some channel by more than STRONG_LEVEL): anti-aliasing
#: jitter changes edge pixels a little, a missing organ changes a whole region a lot (the synthetic lungs,
#: seen through the isodose shells in the small 3D test picture, change 0.95 % of its pixels by more than 40).
STRONG_LEVEL = 40
STRONG_FRACTION_LIMIT = 0.005


def image_error(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean absolute difference (0-255) of two RGB pictures; infinite when their sizes differ."""
    a = np.asarray(image, dtype=np.float64)[..., :3]
    b = np.asarray(reference, dtype=np.float64)[..., :3]
    if a.shape != b.shape:
        return float("inf")
    return float(np.mean(np.abs(a - b)))


def strong_fraction(image: np.ndarray, reference: np.ndarray) -> float:
    """Share of pixels where some channel differs by more than :data:`STRONG_LEVEL`; 1 for other sizes."""
    a = np.asarray(image, dtype=np.int16)[..., :3]
    b = np.asarray(reference, dtype=np.int16)[..., :3]
    if a.shape != b.shape:
        return 1.0
    return float(np.mean(np.abs(a - b).max(axis=-1) > STRONG_LEVEL))


def load_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"))


def verify_image(image: np.ndarray, name: str, limit: float = MEAN_ERROR_LIMIT) -> float:
    """Compare ``image`` with ``baseline/<name>.png``; return the error; raise AssertionError above limits."""
    from PIL import Image

    path = BASELINE_DIR / f"{name}.png"
    if os.environ.get("HBIVIEW_UPDATE_BASELINES") == "1":
        BASELINE_DIR.mkdir(exist_ok=True)
        Image.fromarray(np.asarray(image)[..., :3]).save(path, optimize=True)
        return 0.0
    if not path.exists():
        FAILED_DIR.mkdir(exist_ok=True)
        failed = FAILED_DIR / f"{name}.new.png"
        Image.fromarray(np.asarray(image)[..., :3]).save(failed)
        raise AssertionError(
            f"no reference picture {path.name}; wrote {failed}: look at it, then rerun with "
            "HBIVIEW_UPDATE_BASELINES=1"
        )
    reference = load_png(path)
    error = image_error(image, reference)
    strong = strong_fraction(image, reference)
    if error > limit or strong > STRONG_FRACTION_LIMIT:
        FAILED_DIR.mkdir(exist_ok=True)
        failed = FAILED_DIR / f"{name}.failed.png"
        Image.fromarray(np.asarray(image)[..., :3]).save(failed)
        raise AssertionError(
            f"{name}: mean pixel error {error:.2f} (limit {limit}), {100 * strong:.2f} % of pixels differ "
            f"by more than {STRONG_LEVEL} (limit {100 * STRONG_FRACTION_LIMIT:g} %); render saved as {failed}"
        )
    return error
