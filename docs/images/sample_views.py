"""Render views of the sample phantom to docs/images/sample_*.png.

Run from the repository root: ``python docs/images/sample_views.py``. Options: ``--labels`` shows the
ground-truth label values instead of HU; ``--arms=up`` and ``--couch`` render those variants.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from hbiview.sample import make_phantom

OUT = Path(__file__).resolve().parent
WIDE = (-1000, 1400)  # a window that shows lung, soft tissue and bone at once (HU)
SOFT = (-160, 240)  # soft-tissue window, W 400 / L 40 (HU)


def _show(ax, image, aspect, title, window, extent=None):
    ax.imshow(
        image,
        cmap="gray",
        vmin=window[0],
        vmax=window[1],
        aspect=aspect,
        interpolation="nearest",
        extent=extent,
    )
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def main(argv: list[str]) -> int:
    """Render the coronal, sagittal and axial views."""
    show_labels = "--labels" in argv
    kwargs: dict = {}
    for arg in argv:
        if arg.startswith("--arms="):
            kwargs["arms"] = arg.split("=", 1)[1]
        if arg == "--couch":
            kwargs["couch"] = True
    phantom = make_phantom(**kwargs)
    volume = phantom.labels if show_labels else phantom.ct.array
    wide = (0, 220) if show_labels else WIDE
    soft = (0, 220) if show_labels else SOFT
    prefix = "labels_" if show_labels else ""
    z, y, x = phantom.geometry.axis_coordinates_mm()
    sz, sy, sx = phantom.geometry.spacing_mm
    body = phantom.labels != 0
    cols = np.nonzero(body.any(axis=(0, 1)))[0]
    rows = np.nonzero(body.any(axis=(0, 2)))[0]
    xs = slice(max(cols[0] - 4, 0), cols[-1] + 5)
    ys = slice(max(rows[0] - 4, 0), rows[-1] + 5)

    # coronal through the vertebral bodies and femora
    j = int(np.argmin(np.abs(y - 35.0)))
    fig, ax = plt.subplots(figsize=(4.4, 11.0), dpi=100)
    _show(ax, volume[::-1, j, xs], sz / sx, f"coronal, y = {y[j]:.0f} mm (patient's right on the left)", wide)
    fig.tight_layout()
    fig.savefig(OUT / f"{prefix}sample_coronal.png")
    plt.close(fig)

    # sagittal: midline, and through the right hip and leg
    fig, axes = plt.subplots(1, 2, figsize=(4.6, 11.0), dpi=100)
    for ax, xx, name in zip(axes, (0.0, -92.0), ("midline", "right hip")):
        i = int(np.argmin(np.abs(x - xx)))
        _show(ax, volume[::-1, ys, i], sz / sy, f"sagittal {name}\nx = {x[i]:.0f} mm", wide)
    fig.tight_layout()
    fig.savefig(OUT / f"{prefix}sample_sagittal.png")
    plt.close(fig)

    # axial: thorax (lung window-ish wide) and pelvis, abdomen (soft-tissue window)
    levels = [
        ("thorax, T7", phantom.vertebrae_mm["T7"], wide),
        ("abdomen, L1", phantom.vertebrae_mm["L1"], soft),
        ("pelvis, femoral heads", phantom.landmarks_mm["femoral_heads"], wide),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=100)
    for ax, (name, zz, window) in zip(axes, levels):
        k = int(np.argmin(np.abs(z - zz)))
        _show(ax, volume[k, ys, xs], sy / sx, f"axial {name}, z = {z[k]:.0f} mm", window)
    fig.tight_layout()
    fig.savefig(OUT / f"{prefix}sample_axial.png")
    plt.close(fig)
    if not kwargs and not show_labels:
        _variants()
    return 0


def _variants() -> None:
    """Axial slices at T7 of the robustness variants (thin, thick with couch, arms up, small FOV)."""
    variants = [
        ("thin (0.8)", {"lateral_scale": 0.8, "ap_scale": 0.8}),
        ("thick (1.3) on a couch", {"lateral_scale": 1.3, "ap_scale": 1.3, "couch": True}),
        ("arms up", {"arms": "up"}),
        ("FOV 350 mm, from the diaphragm", {"fov_mm": 350.0, "z_range_mm": (1250.0, 1800.0)}),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8), dpi=100)
    for ax, (name, kw) in zip(axes, variants):
        p = make_phantom(**kw)
        z, y, x = p.geometry.axis_coordinates_mm()
        k = int(np.argmin(np.abs(z - p.vertebrae_mm["T7"])))
        # the same 720 x 480 mm window for every variant, centred on the trunk
        half_x, y0, y1 = 360.0, -250.0, 230.0
        extent = (x[0], x[-1], y[-1], y[0])
        _show(ax, p.ct.array[k], 1.0, name, WIDE, extent=extent)
        ax.set_axis_on()
        ax.set_facecolor("black")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(-half_x, half_x)
        ax.set_ylim(y1, y0)
    fig.tight_layout()
    fig.savefig(OUT / "sample_variants.png")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
