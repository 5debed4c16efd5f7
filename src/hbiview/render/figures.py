"""Finished 3D pictures: one plan, several plans side by side, an interactive HTML page, an orbit movie."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hbiview.errors import InputError
from hbiview.io.atomic import check_writable
from hbiview.render._pv import plotter as make_plotter
from hbiview.render.colors import dose_cmap, dose_range_gy, shared_dose_scale
from hbiview.render.export import orbit_backend, scene_html, write_html, write_orbit, write_png
from hbiview.render.scene import (
    _BACKGROUND,
    AnatomyMeshes,
    SceneOptions,
    _frame_bounds,
    _legend_entries,
    add_axes_glyph,
    add_scene,
    camera_for,
    prepare_anatomy,
    set_camera,
)
from hbiview.render.slices import _panel_labels
from hbiview.render.style import PlanLike, plan_title, prescription_total_gy
from hbiview.volume import CTVolume, DoseGrid, Structure

__all__ = [
    "export_html",
    "render_3d",
    "render_compare_3d",
    "render_difference_3d",
    "render_orbit",
    "scene_plotter",
]

#: the HTML page is refused above this size (bytes): a teacher mails it to students
HTML_LIMIT_BYTES = 10 * 1024 * 1024

StructureInput = Iterable[Structure] | Mapping[str, Structure] | None


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    width, height = (int(v) for v in size)
    if not (64 <= width <= 8192 and 64 <= height <= 8192):
        raise InputError(f"picture size {width} x {height} px: each side must be between 64 and 8192")
    return width, height


def _font_scale(size: tuple[int, int]) -> float:
    return float(np.clip(min(size[0] / 1280.0, size[1] / 800.0), 0.5, 3.0))


def _anatomy(
    anatomy: AnatomyMeshes | None, structures: StructureInput, options: SceneOptions
) -> AnatomyMeshes:
    return anatomy if anatomy is not None else prepare_anatomy(structures, bone=options.bone)


def scene_plotter(
    ct: CTVolume,
    *,
    dose: DoseGrid | None = None,
    plan: PlanLike | None = None,
    structures: StructureInput = None,
    anatomy: AnatomyMeshes | None = None,
    options: SceneOptions | None = None,
    size: Sequence[int] = (1280, 800),
    off_screen: bool = True,
) -> Any:
    """A :class:`pyvista.Plotter` holding the 3D scene of one plan (the caller shows or closes it).

    Parameters
    ----------
    ct
        The CT.
    dose
        Total dose (Gy) of ``plan``.
    plan
        The plan (title, prescription, beams).
    structures
        Structures (skin, lungs, skeleton/marrow by name); ignored when ``anatomy`` is given.
    anatomy
        Surfaces already made by :func:`~hbiview.render.scene.prepare_anatomy` (reuse them across plans).
    options
        What to show.
    size
        Window size ``(width, height)`` px.
    off_screen
        Render into memory.
    """
    options = options or SceneOptions()
    size = _check_size(size)
    plotter = make_plotter(off_screen=off_screen, window_size=size)
    add_scene(
        plotter, ct, _anatomy(anatomy, structures, options), dose, plan, options, font_scale=_font_scale(size)
    )
    return plotter


def _screenshot(plotter: Any) -> np.ndarray:
    plotter.render()
    image = plotter.screenshot(return_img=True)
    return np.asarray(image)[..., :3].copy()


def _picture(
    plotter: Any,
    out: str | os.PathLike[str] | None,
    force: bool,
    draw: Callable[[], object] | None = None,
) -> np.ndarray:
    """Run ``draw``, take the picture and close ``plotter`` (also on failure); write ``out`` when given."""
    try:
        if draw is not None:
            draw()
        image = _screenshot(plotter)
    finally:
        plotter.close()
    if out is not None:
        write_png(image, out, force=force)
    return image


def render_3d(
    ct: CTVolume,
    *,
    dose: DoseGrid | None = None,
    plan: PlanLike | None = None,
    structures: StructureInput = None,
    anatomy: AnatomyMeshes | None = None,
    options: SceneOptions | None = None,
    size: Sequence[int] = (1280, 800),
    out: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> np.ndarray:
    """The 3D scene of one plan rendered off-screen, as RGB (and optionally a PNG file).

    Parameters
    ----------
    ct, dose, plan, structures, anatomy, options, size
        See :func:`scene_plotter`.
    out
        PNG file to write atomically; ``None`` writes nothing.
    force
        Replace an existing ``out``.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8.
    """
    if out is not None:
        check_writable(out, force)
    plotter = scene_plotter(
        ct, dose=dose, plan=plan, structures=structures, anatomy=anatomy, options=options, size=size
    )
    return _picture(plotter, out, force)


def render_compare_3d(
    ct: CTVolume,
    cases: Sequence[tuple[PlanLike, DoseGrid]],
    *,
    structures: StructureInput = None,
    anatomy: AnatomyMeshes | None = None,
    options: SceneOptions | None = None,
    size: Sequence[int] = (1600, 700),
    out: str | os.PathLike[str] | None = None,
    force: bool = False,
    scale: str = "auto",
    labels: Sequence[str] | None = None,
    font_scale: float = 1.0,
) -> np.ndarray:
    """Two to four plans side by side, one frame, one honest dose colour scale.

    Every panel shows the same things (isodose shells, and the CT planes ``options`` asks for, through
    each plan's own prescription point) in the same frame. With ``options.camera="auto"`` each panel
    looks from the side its beams come from, so that a posterior spine field's dose is seen; the
    cameras are linked when they are all the same.

    The colour bar stands in its own strip at the right and holds for every panel. With
    ``scale="gy"`` every panel is coloured on one absolute scale (Gy) and its isodose surfaces are at
    the same doses in every panel (percent of the highest prescription, named in the legend); with
    ``scale="percent"`` each panel is coloured in percent of its own prescription (isodoses too) and the
    bar is in %. ``"auto"`` picks percent when the prescriptions differ, Gy when they are equal.

    Parameters
    ----------
    ct
        The CT.
    cases
        ``(plan, dose)`` pairs, 2 to 4.
    structures, anatomy, options, size, out, force
        As for :func:`render_3d`; ``options.dose_range_gy`` fixes the Gy scale.
    scale
        ``"auto"``, ``"gy"`` or ``"percent"`` (see above and
        :func:`hbiview.render.colors.shared_dose_scale`).
    labels
        One name per panel, shown in its title instead of the plan's name (the prescription follows);
        default the plan names.
    font_scale
        Text size factor on top of the automatic one (which follows the panel size); 1.5 for a lecture
        hall when the picture is shown small.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8.
    """
    from hbiview.render.scene import _scalar_bar

    if not 2 <= len(cases) <= 4:
        raise InputError(f"a comparison shows 2 to 4 plans, got {len(cases)}")
    names = _panel_labels(labels, len(cases))
    if out is not None:
        check_writable(out, force)
    options = options or SceneOptions()
    size = _check_size(size)
    anatomy = _anatomy(anatomy, structures, options)
    shared = shared_dose_scale(
        [prescription_total_gy(plan) for plan, _ in cases],
        [dose.max_gy for _, dose in cases],
        options.threshold_pct,
        scale,
        options.dose_range_gy,
    )
    n = len(cases)
    bar_strip = options.show_scalar_bar and bool(options.planes)
    titles = [plan_title(plan, name=name) for (plan, _), name in zip(cases, names, strict=True)]
    # text follows the panel, but not below what the whole picture would get (narrow panels), and never
    # so large that the longest title overflows its panel (a character is about 0.85 of the font size)
    text_scale = max(_font_scale((size[0] // n, size[1])) * 1.3, _font_scale(size)) * float(font_scale)
    strip_px = int(140 * text_scale) if bar_strip else 0
    panel_px = (size[0] - strip_px) // n
    text_scale = min(text_scale, 0.95 * panel_px / (0.85 * 15 * max(len(t) for t in titles)))
    strip_px = int(140 * text_scale) if bar_strip else 0
    panel_px = (size[0] - strip_px) // n
    # panels of equal width; the colour bar in a strip of its own, since it holds for all of them
    weights = [panel_px] * n + ([strip_px] if bar_strip else [])
    plotter = make_plotter(
        off_screen=True, window_size=size, shape=(1, len(weights)), col_weights=weights, border=False
    )
    common = shared.mode == "gy" and not np.allclose(
        shared.references_gy, [prescription_total_gy(plan) for plan, _ in cases], rtol=1e-6
    )

    # one frame for all panels (sizes compare), framing every plan's fields; each panel looks from where
    # its own beams come from (a PA spine field's dose is hidden from an anterior camera)
    frames = np.array([_frame_bounds(anatomy, plan, ct, options.frame) for plan, _ in cases])
    union = np.ravel(np.column_stack([frames[:, 0::2].min(axis=0), frames[:, 1::2].max(axis=0)]))
    cameras = [camera_for(options.camera, plan) for plan, _ in cases]

    def draw() -> None:
        for index, (plan, dose) in enumerate(cases):
            plotter.subplot(0, index)
            panel = replace(
                options,
                dose_range_gy=shared.clims_gy[index],
                show_scalar_bar=False,
                show_legend=index == 0 and options.show_legend,
                # on a Gy scale of another plan's prescription, the legend gives the levels in Gy too
                legend_dose=common,
                show_orientation=index == 0 and options.show_orientation,
            )
            add_scene(
                plotter,
                ct,
                anatomy,
                dose,
                plan,
                panel,
                font_scale=text_scale,
                title=titles[index],
                reference_gy=shared.references_gy[index],
                reference_name=f"{shared.references_gy[index]:g} Gy" if common else None,
            )
            set_camera(plotter, cameras[index], union)
        if bar_strip:
            plotter.subplot(0, n)
            plotter.set_background(_BACKGROUND)
            label = shared.bar_label.replace(" (", "\n(").replace("of each plan's ", "of each\nplan's\n")
            _scalar_bar(
                plotter,
                shared.cmap(),
                shared.bar_range,
                label,
                text_scale,
                position=(0.12, 0.16),
                extent=(0.22, 0.60),
            )
        if len(set(cameras)) == 1:
            plotter.link_views(list(range(n)))  # one camera: turning one panel turns them all

    return _picture(plotter, out, force, draw)


def render_difference_3d(
    ct: CTVolume,
    dose_a: DoseGrid,
    dose_b: DoseGrid,
    *,
    label_a: str = "A",
    label_b: str = "B",
    plan: PlanLike | None = None,
    structures: StructureInput = None,
    anatomy: AnatomyMeshes | None = None,
    options: SceneOptions | None = None,
    threshold_gy: float | None = None,
    size: Sequence[int] = (1280, 800),
    out: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> np.ndarray:
    """Dose difference ``A - B`` in 3D: the CT planes coloured blue (A lower) to red (A higher), centred on 0.

    Skin, bones and beams are drawn as in :func:`render_3d`; isodose surfaces are left out (they belong
    to one plan), and so are the lungs unless ``options`` asks for them (their blue would read as a
    negative difference). The difference is drawn on the CT planes of ``options`` (coronal and axial
    when it names none).

    Parameters
    ----------
    ct
        The CT.
    dose_a, dose_b
        Total doses (Gy); ``dose_b`` is resampled onto ``dose_a``'s grid.
    label_a, label_b
        Names in the title and on the colour bar.
    plan
        Plan whose beams are drawn and whose fields place the planes.
    structures, anatomy, options, size, out, force
        As for :func:`render_3d`.
    threshold_gy
        Differences smaller than this (Gy) show plain CT; default 1 % of the larger maximum dose.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8.
    """
    from hbiview.render.colors import difference_cmap
    from hbiview.render.scene import Wash

    if out is not None:
        check_writable(out, force)
    # lungs in their usual blue would read as "A lower" on the blue-red difference scale
    options = options or SceneOptions(show_lungs=False)
    if not options.planes:  # the difference is drawn on CT planes only: without them it would not show
        options = replace(options, planes=("coronal", "axial"))
    size = _check_size(size)
    other = dose_b if dose_b.geometry.isclose(dose_a.geometry) else dose_b.resampled(dose_a.geometry)
    difference = dose_a.with_array(dose_a.dose_gy - other.dose_gy)
    # symmetric limits: +d and -d differ only in hue, so neither sign looks bigger
    limit = float(np.max(np.abs(difference.dose_gy))) or 1.0
    if threshold_gy is None:
        threshold_gy = 0.01 * max(dose_a.max_gy, dose_b.max_gy)
    bar = f"{label_a} −\n{label_b} (Gy)"
    wash = Wash(difference, difference_cmap(), (-limit, limit), threshold_gy, True, bar)
    plotter = make_plotter(off_screen=True, window_size=size)

    def draw() -> None:
        add_scene(
            plotter,
            ct,
            _anatomy(anatomy, structures, options),
            None,
            plan,
            options,
            font_scale=_font_scale(size),
            wash=wash,
            title=f"dose difference: {label_a} - {label_b}",
        )

    return _picture(plotter, out, force, draw)


def export_html(
    ct: CTVolume,
    out: str | os.PathLike[str],
    *,
    dose: DoseGrid | None = None,
    plan: PlanLike | None = None,
    structures: StructureInput = None,
    anatomy: AnatomyMeshes | None = None,
    options: SceneOptions | None = None,
    force: bool = False,
    limit_bytes: int = HTML_LIMIT_BYTES,
) -> Path:
    """A standalone interactive HTML page of the 3D scene (opens in a browser without a server).

    Title, legend and colour bar (with the prescription marked on it) are drawn by the page; VTK's
    orientation cube cannot be shown by vtk.js, so three labelled arrows made of geometry (L, P, H) stand
    beside the feet instead. Checkboxes on the page show or hide the skin, lungs, bones, beams, each
    isodose shell and the CT planes (when ``options.planes`` asks for them) in the browser.

    Parameters
    ----------
    ct, dose, plan, structures, anatomy, options
        See :func:`scene_plotter`.
    out
        HTML file to write.
    force
        Replace an existing file.
    limit_bytes
        Refuse pages larger than this (default 10 MB): lower the surfaces' triangle budget or drop planes.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    check_writable(out, force)
    from hbiview.render.export import _require_trame_vtk

    _require_trame_vtk()  # before any rendering
    options = replace(
        options or SceneOptions(),
        show_title=False,
        show_scalar_bar=False,
        show_legend=False,
        show_orientation=False,
        plane_pixel_mm=(options or SceneOptions()).plane_pixel_mm or 2.5,
    )
    anatomy = _anatomy(anatomy, structures, options)
    plotter = make_plotter(off_screen=True, window_size=(1280, 800))
    try:
        groups = add_scene(plotter, ct, anatomy, dose, plan, options)
        add_axes_glyph(plotter, _frame_bounds(anatomy, plan, ct, options.frame))
        reference = prescription_total_gy(plan) if plan is not None else None
        legend = _legend_entries(anatomy, options, reference if dose is not None else None)
        bar = mark = None
        if dose is not None and reference is not None and options.planes:
            clim = options.dose_range_gy or dose_range_gy(reference, dose.max_gy, options.threshold_pct)
            cmap = dose_cmap(100 * clim[0] / reference, 100 * clim[1] / reference)
            bar = (cmap, clim, "dose on the CT planes (Gy)")
            mark = (reference, f"Rx {reference:g} Gy")
        page = scene_html(
            plotter,
            title=plan_title(plan),
            legend=legend,
            colour_bar=bar,
            colour_bar_mark=mark,
            toggles=_page_toggles(groups),
        )
    finally:
        plotter.close()
    size = len(page.encode("utf-8"))
    if size > limit_bytes:
        raise InputError(
            f"{out}: the page would be {size / 1e6:.1f} MB (limit {limit_bytes / 1e6:.0f} MB): "
            "show fewer planes or structures"
        )
    return write_html(page, out, force=force)


#: checkboxes of the standalone page: label -> actor groups of :func:`~hbiview.render.scene.add_scene`
_PAGE_TOGGLES = {"skin": ("skin",), "lungs": ("lungs",), "bones": ("bone",), "beams": ("beams",)}


def _page_toggles(groups: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """The page's structure toggles: skin, lungs, bones, each isodose shell, beams, CT planes."""
    out: dict[str, list[Any]] = {}
    for label, names in _PAGE_TOGGLES.items():
        actors = [a for name in names for a in groups.get(name, [])]
        if actors:
            out[label] = actors
    for name, actors in groups.items():
        if name.startswith("isodose") and actors:
            out[name.replace("isodose ", "isodose ").replace("%", " %")] = list(actors)
    if groups.get("planes"):
        out["CT planes"] = list(groups["planes"])
    return out


def render_orbit(
    ct: CTVolume,
    out: str | os.PathLike[str],
    *,
    dose: DoseGrid | None = None,
    plan: PlanLike | None = None,
    structures: StructureInput = None,
    anatomy: AnatomyMeshes | None = None,
    options: SceneOptions | None = None,
    size: Sequence[int] = (640, 400),
    frames: int = 36,
    fps: float = 12.0,
    force: bool = False,
) -> Path:
    """An animation turning once around the patient (head up): GIF (needs imageio) or MP4 (needs ffmpeg).

    Parameters
    ----------
    ct, dose, plan, structures, anatomy, options, size
        See :func:`scene_plotter`.
    out
        ``.gif`` or ``.mp4`` file.
    frames
        Pictures per turn.
    fps
        Frames per second.
    force
        Replace an existing file.
    """
    orbit_backend(out)  # fail before rendering when the writer is missing
    check_writable(out, force)
    if frames < 2:
        raise InputError(f"an orbit needs at least 2 frames, got {frames}")
    plotter = scene_plotter(
        ct, dose=dose, plan=plan, structures=structures, anatomy=anatomy, options=options, size=size
    )
    pictures = []
    try:
        step = 360.0 / frames
        for _ in range(frames):
            pictures.append(_screenshot(plotter))
            plotter.renderer.GetActiveCamera().Azimuth(step)  # about the view-up (head) axis
            plotter.reset_camera_clipping_range()
    finally:
        plotter.close()
    return write_orbit(pictures, out, fps=fps, force=force)
