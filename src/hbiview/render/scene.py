"""The 3D scene: skin, lungs, skeleton or marrow, isodose surfaces, beams, CT planes with dose colourwash.

The scene's world coordinates are LPS millimetres. Surfaces that do not depend on the plan (skin, lungs,
bones) are computed once (:func:`prepare_anatomy`) and shared by every plan shown on the same CT.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from hbiview.errors import InputError
from hbiview.render import beams as _beams
from hbiview.render._pv import pyvista
from hbiview.render.colors import colourwash_rgb, dose_cmap, dose_range_gy
from hbiview.render.convert import isodose_surfaces, mask_surface, probe_array
from hbiview.render.planes import VIEWS, make_plane, sample_on_plane
from hbiview.render.style import (
    LUNG_COLOR,
    PATIENT_DIRECTIONS,
    SHELL_ISODOSE_PCT,
    PlanLike,
    check_levels,
    isodose_color,
    plan_title,
    prescription_total_gy,
    structures_by_role,
)
from hbiview.volume import CTVolume, DoseGrid, Structure

__all__ = [
    "CAMERAS",
    "AnatomyMeshes",
    "SceneOptions",
    "Wash",
    "add_axes_glyph",
    "add_scene",
    "camera_for",
    "orientation_marker",
    "prepare_anatomy",
    "set_camera",
]

#: camera name -> direction from the focal point to the camera (LPS); the view-up is always the head (+z).
CAMERAS: dict[str, tuple[float, float, float]] = {
    "anterior": (0.0, -1.0, 0.0),
    "posterior": (0.0, 1.0, 0.0),
    "left": (1.0, 0.0, 0.0),
    "right": (-1.0, 0.0, 0.0),
    # from the patient's right-anterior, a little above: the field, its divergent edges and depth all show
    "anterior-oblique": (-0.55, -1.0, 0.55),
    "posterior-oblique": (0.55, 1.0, 0.55),
}

_SKIN_COLOR = (0.96, 0.80, 0.69)
_BONE_COLOR = (0.93, 0.90, 0.80)
_BEAM_COLOR = (0.95, 0.95, 0.95)
#: opacity of the skeleton when isodose shells show the dose (opaque bones would hide the shells in them)
_BONE_OPACITY_WITH_SHELLS = 0.45
_BACKGROUND = (0.07, 0.08, 0.10)
#: opacity of the isodose shells beside CT planes: faint, the planes' colourwash carries the dose
_ISODOSE_OPACITY_WITH_PLANES = {50.0: 0.07, 80.0: 0.10, 95.0: 0.22, 105.0: 0.50}
#: opacity of the isodose shells: the outer (lower) levels more transparent so the inner ones show
_ISODOSE_OPACITY = {20.0: 0.15, 30.0: 0.2, 50.0: 0.3, 80.0: 0.4, 95.0: 0.65, 105.0: 0.75}


@dataclass(frozen=True)
class SceneOptions:
    """What a 3D scene shows.

    Attributes
    ----------
    isodose_pct
        Isodose shells, percent of the prescription (fixed colour per level), cut at the skin (the dose
        outside the body is not drawn). Default 50 % (the irradiated volume) and 95 % (the treated
        volume).
    bone
        ``"skeleton"``, ``"marrow"`` (marrow surface in its structure colour), ``"marrow-weight"`` (marrow
        coloured by active-marrow weight) or ``"none"``.
    show_skin, show_lungs, show_beams
        Translucent skin, lungs, field outline on the skin and divergent field edges.
    planes
        CT planes to show (any of ``"axial"``, ``"coronal"``, ``"sagittal"``), with the dose colourwash;
        default none: the isodose shells show the dose, and the slice pictures show it on the CT.
    plane_position_mm
        LPS point ``(x, y, z)`` the planes (and, without planes, the skin's cut) pass through; default the
        plan's prescription point (:func:`hbiview.render.beams.prescription_point`).
    window
        CT window of the planes.
    plane_pixel_mm
        Smallest pixel of the planes (mm); default the CT's own pixels. The HTML page uses 2.5 mm so that a
        fine clinical CT still gives a page that can be mailed.
    threshold_pct
        Colourwash only where the dose is at least this percent of the prescription.
    dose_range_gy
        Colour scale of the colourwash and scalar bar (Gy); default from the threshold to the maximum dose
        (at least 110 % of the prescription).
    camera
        One of :data:`CAMERAS`, or ``"auto"``: from the side the beams come from (posterior-oblique when
        every beam enters from behind, as a PA spine field; anterior-oblique otherwise).
    frame
        What the camera frames: ``"fields"`` (the body, limited head-to-feet to the fields plus 6 cm) or
        ``"body"`` (the whole body, e.g. to compare field sizes).
    cutaway
        With planes: cut away what lies between the camera and the planes (skin, lungs, bones, isodose
        surfaces) so that the planes' colourwash is seen directly, not through translucent surfaces that
        would change its colours. Without planes: cut away the skin in front of the prescription point
        (on the camera's side) over the head-feet extent of the shells, so that the shells are seen
        directly, not through the skin.
    show_title, show_scalar_bar, show_orientation, show_legend
        Annotations.
    legend_dose
        Give the isodose levels in Gy as well as in percent in the legend.
    """

    isodose_pct: tuple[float, ...] = SHELL_ISODOSE_PCT
    bone: str = "skeleton"
    show_skin: bool = True
    show_lungs: bool = True
    show_beams: bool = True
    planes: tuple[str, ...] = ()
    plane_position_mm: tuple[float, float, float] | None = None
    window: str | tuple[float, float] = "soft"
    plane_pixel_mm: float | None = None
    threshold_pct: float = 20.0
    dose_range_gy: tuple[float, float] | None = None
    camera: str = "auto"
    frame: str = "fields"
    cutaway: bool = True
    show_title: bool = True
    show_scalar_bar: bool = True
    show_orientation: bool = True
    show_legend: bool = True
    legend_dose: bool = True

    def __post_init__(self) -> None:
        if self.bone not in ("skeleton", "marrow", "marrow-weight", "none"):
            raise InputError(f"bone display {self.bone!r}: choose skeleton, marrow, marrow-weight or none")
        unknown = [p for p in self.planes if p not in VIEWS]
        if unknown:
            raise InputError(f"unknown plane {unknown[0]!r}: choose from {', '.join(VIEWS)}")
        if self.frame not in ("fields", "body"):
            raise InputError(f"frame {self.frame!r}: choose fields or body")
        if self.camera not in CAMERAS and self.camera != "auto":
            raise InputError(f"unknown camera {self.camera!r}: choose auto or one of {', '.join(CAMERAS)}")
        object.__setattr__(self, "isodose_pct", check_levels(self.isodose_pct))


@dataclass(frozen=True)
class Wash:
    """A colourwash for the CT planes other than the plan's dose (e.g. a dose difference).

    Attributes
    ----------
    values
        The values (Gy) on their own grid.
    cmap
        matplotlib colour map.
    clim
        Range mapped onto ``cmap``.
    threshold
        Below it (``|values|`` below it when ``symmetric``) the planes show plain CT.
    symmetric
        Threshold on the absolute value (differences).
    label
        Title of the scalar bar.
    """

    values: DoseGrid
    cmap: Any
    clim: tuple[float, float]
    threshold: float
    symmetric: bool = False
    label: str = "dose (Gy)"


@dataclass
class AnatomyMeshes:
    """Surfaces of the structures that do not depend on the plan (LPS mm).

    Attributes
    ----------
    skin
        Body outline surface, or ``None``.
    lungs
        ``(name, surface, rgb 0-1)`` per lung structure.
    skeleton
        Skeleton surface, or ``None``.
    marrow
        Marrow surface, or ``None``; with point data ``"active_marrow_pct_per_100cc"`` when the marrow
        structure has weights.
    marrow_color
        Display colour of the marrow structure.
    body
        The body structure (its mask places the field outline on the skin), or ``None``.
    """

    skin: Any = None
    lungs: list[tuple[str, Any, tuple[float, float, float]]] = field(default_factory=list)
    skeleton: Any = None
    marrow: Any = None
    marrow_color: tuple[float, float, float] = (0.85, 0.25, 0.25)
    body: Structure | None = None


def _union(structures: list[Structure]) -> Structure | None:
    if not structures:
        return None
    first = structures[0]
    if len(structures) == 1:
        return first
    mask = np.zeros(first.geometry.shape, dtype=bool)
    weights = None
    for s in structures:
        other = s if s.geometry.isclose(first.geometry) else s.resampled(first.geometry)
        mask |= other.mask
        if other.weights is not None:
            weights = (weights if weights is not None else 0) + other.weights
    return Structure(first.geometry, mask, name=first.name, color=first.color, weights=weights)


def prepare_anatomy(
    structures: Iterable[Structure] | Mapping[str, Structure] | None,
    bone: str = "skeleton",
    max_faces: int = 40_000,
) -> AnatomyMeshes:
    """Surfaces of skin, lungs and skeleton (or marrow) from the structures, by name.

    Parameters
    ----------
    structures
        Structures; roles come from names (``Body``/``External``, ``Lung...``, ``Skeleton``/``Bone``,
        ``...Marrow...``), see :func:`hbiview.render.style.classify_structure`.
    bone
        ``"skeleton"``, ``"marrow"``, ``"marrow-weight"`` or ``"none"``: which bone surface to make.
    max_faces
        Triangle budget of each surface.
    """
    roles = structures_by_role(structures)
    meshes = AnatomyMeshes()
    if roles["body"]:
        meshes.body = roles["body"][0]
        meshes.skin = mask_surface(
            meshes.body.mask, meshes.body.geometry, smoothing_mm=3.0, max_faces=max_faces
        )
    for lung in roles["lung"]:
        colour = LUNG_COLOR  # one pale colour, never mistaken for the 50 % isodose's blue
        surface = mask_surface(lung.mask, lung.geometry, smoothing_mm=2.5, max_faces=max_faces // 2)
        meshes.lungs.append((lung.name, surface, colour))
    if bone == "skeleton":
        skeleton = _union(roles["skeleton"]) or _union(roles["marrow"])
        if skeleton is not None:
            meshes.skeleton = mask_surface(
                skeleton.mask, skeleton.geometry, smoothing_mm=1.5, max_faces=max_faces * 2
            )
    elif bone in ("marrow", "marrow-weight"):
        marrow = _union(roles["marrow"])
        if marrow is None:
            raise InputError("no marrow structure to show (bone='marrow'): segment the CT first")
        meshes.marrow_color = tuple(c / 255.0 for c in marrow.color)  # type: ignore[assignment]
        meshes.marrow = mask_surface(marrow.mask, marrow.geometry, smoothing_mm=1.5, max_faces=max_faces * 2)
        if marrow.weights is not None and meshes.marrow.n_points:
            # the surface lies half a voxel outside the marrow: spread the weights one voxel outwards first
            from scipy import ndimage

            spread = ndimage.maximum_filter(np.asarray(marrow.weights), size=3)
            per_voxel = probe_array(meshes.marrow.points, spread, marrow.geometry, order=1)
            total = float(np.asarray(marrow.weights).sum()) or 1.0
            per_100cc = per_voxel / total * 100.0 / marrow.geometry.voxel_volume_cc * 100.0
            meshes.marrow.point_data["active_marrow_pct_per_100cc"] = per_100cc.astype(np.float32)
    return meshes


def orientation_marker() -> Any:
    """A cube whose faces name the patient directions in LPS: +x L, -x R, +y P, -y A, +z H, -z F."""
    from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor

    cube = vtkAnnotatedCubeActor()
    cube.SetXPlusFaceText(PATIENT_DIRECTIONS["+x"])
    cube.SetXMinusFaceText(PATIENT_DIRECTIONS["-x"])
    cube.SetYPlusFaceText(PATIENT_DIRECTIONS["+y"])
    cube.SetYMinusFaceText(PATIENT_DIRECTIONS["-y"])
    cube.SetZPlusFaceText(PATIENT_DIRECTIONS["+z"])
    cube.SetZMinusFaceText(PATIENT_DIRECTIONS["-z"])
    cube.SetFaceTextScale(0.65)
    cube.GetCubeProperty().SetColor(0.30, 0.33, 0.38)
    cube.GetTextEdgesProperty().SetColor(0.9, 0.9, 0.9)
    cube.GetTextEdgesProperty().SetLineWidth(1.5)
    for getter in ("GetXPlusFaceProperty", "GetXMinusFaceProperty"):
        getattr(cube, getter)().SetColor(1.0, 0.45, 0.45)
    for getter in ("GetYPlusFaceProperty", "GetYMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.5, 1.0, 0.5)
    for getter in ("GetZPlusFaceProperty", "GetZMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.55, 0.7, 1.0)
    return cube


def add_axes_glyph(plotter: Any, bounds: npt.ArrayLike, length_mm: float = 120.0) -> list[Any]:
    """Three labelled arrows made of geometry: patient's left (L), posterior (P) and head (H).

    For views that cannot draw VTK's orientation widget (the vtk.js page shows only geometry). The
    arrows start in front of the feet end of ``bounds`` ``(xmin, xmax, ymin, ymax, zmin, zmax)``, on its
    patient-right side, and are coloured like the orientation cube's faces (L red, P green,
    H blue); the letters are 3D text standing in the coronal plane, read from the front.
    """
    pv = pyvista()
    b = np.asarray(bounds, dtype=float)
    origin = np.array([b[0] - 0.8 * length_mm, b[2] - 0.3 * length_mm, b[4]])
    actors = []
    colours = {"+x": (1.0, 0.45, 0.45), "+y": (0.5, 1.0, 0.5), "+z": (0.55, 0.7, 1.0)}
    for axis, key in enumerate(("+x", "+y", "+z")):
        direction = np.zeros(3)
        direction[axis] = 1.0
        arrow = pv.Arrow(
            start=origin, direction=direction, scale=length_mm, tip_length=0.22, tip_radius=0.07,
            shaft_radius=0.025,
        )  # fmt: skip
        actors.append(plotter.add_mesh(arrow, color=colours[key], name=f"axes {key}"))
        letter = pv.Text3D(PATIENT_DIRECTIONS[key], depth=0.15)
        letter.points = letter.points * (0.35 * length_mm)
        # stand the letter up in the x-z plane (it is made in x-y, read along -z): rotate about x
        letter = letter.rotate_x(90.0, point=(0.0, 0.0, 0.0), inplace=False)
        size = np.asarray(letter.bounds, float)
        centre = np.array([(size[0] + size[1]) / 2, (size[2] + size[3]) / 2, (size[4] + size[5]) / 2])
        tip = origin + direction * length_mm * 1.25
        letter = letter.translate(tip - centre, inplace=False)
        actors.append(plotter.add_mesh(letter, color=colours[key], name=f"axes {key} label"))
    return actors


#: per plotter: for each style of :func:`_add_mesh`, an actor made by PyVista whose settings later actors copy
_TEMPLATES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _add_mesh(plotter: Any, mesh: Any, *, name: str, **style: Any) -> Any:
    """``plotter.add_mesh(mesh, name=name, **style)`` for a surface or lines in one colour, made cheaper.

    The first mesh of a style (the same keyword arguments) in a plotter goes through
    :meth:`pyvista.Plotter.add_mesh`; later ones get a copy of that actor's property and mapper settings
    and the new mesh as the mapper's input: the same actor for VTK and vtk.js at about 0.3 ms instead of
    2 to 3 ms of PyVista's argument handling, which ``hbiview serve`` pays for every surface and line
    redrawn after a border change. Meshes coloured by scalars, and smooth-shaded meshes without point
    normals (for which PyVista computes them), always go through ``add_mesh``.
    """
    from vtkmodules.vtkRenderingCore import vtkActor, vtkDataSetMapper, vtkProperty

    pv = pyvista()
    simple = (
        isinstance(mesh, pv.PolyData)
        and "scalars" not in style
        and not style.get("rgb")
        and (not style.get("smooth_shading") or mesh.point_data.active_normals_name is not None)
    )
    if not simple:
        return plotter.add_mesh(mesh, name=name, **style)
    key = repr(sorted(style.items()))
    templates = _TEMPLATES.setdefault(plotter, {})
    template = templates.get(key)
    if template is None:
        actor = plotter.add_mesh(mesh, name=name, **style)
        # the settings without the mesh: a mapper that copies the mapper's (not its input), a property copy
        mapper = vtkDataSetMapper()
        mapper.ShallowCopy(actor.GetMapper())
        prop = vtkProperty()
        prop.DeepCopy(actor.GetProperty())
        template = vtkActor()
        template.ShallowCopy(actor)
        template.SetMapper(mapper)
        template.SetProperty(prop)
        template.SetScale(1.0, 1.0, 1.0)  # add_actor applies the renderer's scale again
        templates[key] = template
        return actor
    mapper = vtkDataSetMapper()
    mapper.ShallowCopy(template.GetMapper())
    mapper.SetInputData(mesh)
    prop = vtkProperty()
    prop.DeepCopy(template.GetProperty())
    actor = pv.Actor(mapper=mapper, prop=prop)  # given its property, PyVista makes none of its own
    actor.ShallowCopy(template)  # visibility, pickability, position...: and the template's mapper and
    actor.SetMapper(mapper)  # property, which are replaced by their copies again
    actor.SetProperty(prop)
    # as add_mesh adds it (its camera reset: only before the scene's camera is set)
    plotter.add_actor(
        actor,
        reset_camera=not plotter._first_time and not plotter.camera_set,
        name=name,
        culling=style.get("culling", False),
        render=style.get("render", True),
    )
    return actor


def _plane_mesh(
    view: str,
    position: np.ndarray,
    ct: CTVolume,
    body: Structure | None,
    dose: DoseGrid | None,
    cmap: Any,
    clim: tuple[float, float] | None,
    threshold_gy: float | None,
    window: str | tuple[float, float],
    pixel_mm: float | None = None,
    symmetric: bool = False,
) -> Any:
    """One CT plane with dose colourwash as an RGB PolyData, cut to the body outline."""
    pv = pyvista()
    fixed = {"axial": 2, "coronal": 1, "sagittal": 0}[view]
    if pixel_mm is not None:
        pixel_mm = max(float(pixel_mm), float(np.min(ct.geometry.spacing_mm)))
    plane = make_plane(ct.geometry, view, float(position[fixed]), pixel_mm=pixel_mm)
    ct_plane = sample_on_plane(ct.hu, ct.geometry, plane, order=1, fill=-1000.0)
    dose_plane = None if dose is None else sample_on_plane(dose.dose_gy, dose.geometry, plane, order=1)
    rgb = colourwash_rgb(
        ct_plane, window, dose_plane, cmap, clim, threshold_gy, alpha=0.55, symmetric_threshold=symmetric
    )
    points = plane.points_lps
    grid = pv.StructuredGrid(points[..., 0], points[..., 1], points[..., 2])
    # StructuredGrid orders points with the first index fastest: transpose the (rows, columns) pictures
    grid.point_data["rgb"] = rgb.transpose(1, 0, 2).reshape(-1, 3)
    if body is not None:
        inside = sample_on_plane(body.mask.astype(np.float32), body.geometry, plane, order=1)
        grid.point_data["inside"] = inside.T.ravel()
        return grid.extract_surface(algorithm="dataset_surface").clip_scalar(
            scalars="inside", value=0.5, invert=False
        )
    return grid.extract_surface(algorithm="dataset_surface")


def _frame_bounds(
    anatomy: AnatomyMeshes, plan: PlanLike | None, ct: CTVolume, frame: str = "fields"
) -> np.ndarray:
    """``(xmin, xmax, ymin, ymax, zmin, zmax)`` to frame: the body, limited to the fields along z."""
    if anatomy.skin is not None and anatomy.skin.n_points:
        bounds = np.array(anatomy.skin.bounds, dtype=float)
    else:
        lower, upper = ct.geometry.bounds_mm()
        bounds = np.array([lower[0], upper[0], lower[1], upper[1], lower[2], upper[2]])
    if plan is not None and frame == "fields":
        extent = _beams.field_extent(plan.beam_outlines(), bounds[0::2], bounds[1::2])
        if extent is not None:
            z_low, z_high = extent[0][2] - 60.0, extent[1][2] + 60.0
            bounds[4], bounds[5] = max(bounds[4], z_low), min(bounds[5], z_high)
    return bounds


def camera_for(name: str, plan: PlanLike | None) -> str:
    """The camera ``name`` stands for: ``"auto"`` looks from where the beams come from."""
    if name != "auto":
        return name
    outlines = plan.beam_outlines() if plan is not None else []
    if outlines and all(
        np.asarray(source, float)[1] > np.asarray(corners, float).mean(axis=0)[1]
        for source, corners in outlines
    ):
        return "posterior-oblique"  # every source behind its field: PA fields
    return "anterior-oblique"


def set_camera(plotter: Any, name: str, bounds: npt.ArrayLike, zoom: float = 1.0) -> None:
    """Point the active camera from direction ``name`` (see :data:`CAMERAS`) at ``bounds``, head up."""
    if name not in CAMERAS:
        raise InputError(f"unknown camera {name!r}: choose one of {', '.join(CAMERAS)}")
    b = np.asarray(bounds, dtype=float)
    centre = np.array([(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2])
    direction = np.asarray(CAMERAS[name], dtype=float)
    direction /= np.linalg.norm(direction)
    camera = plotter.camera
    camera.focal_point = tuple(centre)
    camera.up = (0.0, 0.0, 1.0)
    # fit the box itself, not its bounding sphere: a tall patient in a narrow panel then fills the
    # panel's height instead of a square around the sphere
    corners = np.array(np.meshgrid(b[0:2], b[2:4], b[4:6], indexing="ij")).reshape(3, -1).T - centre
    right = np.cross(-direction, (0.0, 0.0, 1.0))
    if np.linalg.norm(right) < 1e-6:  # looking along the head-feet axis
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, -direction)
    viewport = plotter.renderer.GetViewport()
    width_px = plotter.window_size[0] * (viewport[2] - viewport[0])
    height_px = plotter.window_size[1] * (viewport[3] - viewport[1])
    aspect = max(width_px, 1.0) / max(height_px, 1.0)
    tangent = np.tan(np.radians(camera.view_angle) / 2.0)
    nearer = corners @ direction  # towards the camera: such corners look larger
    needed = np.maximum(np.abs(corners @ up) / tangent, np.abs(corners @ right) / (tangent * aspect))
    distance = 1.12 * float(np.max(needed + nearer))  # margins of about 6 % (room for the title)
    camera.position = tuple(centre + max(distance, 1.0) * direction)
    camera.up = (0.0, 0.0, 1.0)
    if zoom != 1.0:
        camera.zoom(zoom)
    plotter.reset_camera_clipping_range()


def _nice_ticks(low: float, high: float) -> np.ndarray:
    """Four to seven round values inside ``[low, high]`` (1, 2, 2.5 or 5 times a power of ten apart)."""
    span = max(high - low, 1e-9)
    for step in sorted({m * 10.0**e for e in range(-2, 4) for m in (1.0, 2.0, 2.5, 5.0)}):
        if span / step <= 6:
            break
    first = np.ceil(low / step - 1e-9) * step
    return np.arange(first, high + 1e-9 * span, step) + 0.0  # + 0.0: never a "-0" label


def _scalar_bar(
    plotter: Any,
    cmap: Any,
    clim: tuple[float, float],
    title: str,
    font_scale: float,
    *,
    position: tuple[float, float] = (0.90, 0.40),
    extent: tuple[float, float] = (0.06, 0.50),
    fmt: str | None = None,
) -> Any:
    """A vertical colour bar with round tick values and its title above it (never over the top label).

    ``position`` (lower-left corner) and ``extent`` (width, height) are fractions of the viewport.
    """
    from vtkmodules.vtkCommonCore import vtkDoubleArray

    pv = pyvista()
    lut = pv.LookupTable(cmap=cmap, n_values=256, scalar_range=clim)
    mapper = pv.DataSetMapper(pv.PolyData())
    mapper.lookup_table = lut
    mapper.scalar_range = clim
    ticks = _nice_ticks(*clim)
    if fmt is None:
        fmt = "%.0f" if np.allclose(ticks, np.round(ticks)) else "%.1f"
    bar = plotter.add_scalar_bar(
        title=title,
        mapper=mapper,
        vertical=True,
        position_x=position[0],
        position_y=position[1],
        height=extent[1],
        width=extent[0],
        title_font_size=int(15 * font_scale),
        label_font_size=int(15 * font_scale),
        n_labels=len(ticks),
        fmt=fmt,
        color="white",
        unconstrained_font_size=True,
    )
    if bar is not None:
        labels = vtkDoubleArray()
        for value in ticks:
            labels.InsertNextValue(float(value))
        bar.SetUseCustomLabels(True)
        bar.SetCustomLabels(labels)
        bar.SetTitle("")
    right = position[0] > 0.5  # a bar at the right edge: its title ends at the edge, not beyond it
    text = plotter.add_text(
        title,
        position=(0.985 if right else position[0] - 0.02, position[1] + extent[1] + 0.03),
        viewport=True,
        font_size=int(10 * font_scale),
        color="white",
    )
    if right:
        text.GetTextProperty().SetJustificationToRight()
    return bar


def _legend_entries(
    anatomy: AnatomyMeshes,
    options: SceneOptions,
    reference_gy: float | None,
    reference_name: str | None = None,
) -> list[tuple[str, tuple[float, float, float]]]:
    """Legend lines ``(text, colour)``; ``reference_name`` says what the percentages are of (``"8 Gy"``)."""
    entries: list[tuple[str, tuple[float, float, float]]] = []
    if reference_gy is not None:
        of = f" of {reference_name}" if reference_name else ""
        for pct in options.isodose_pct:
            dose = f" = {reference_gy * pct / 100:.3g} Gy" if options.legend_dose else ""
            entries.append((f"{pct:g} %{of}{dose}", isodose_color(pct)))
    if options.show_skin and anatomy.skin is not None:
        entries.append(("skin", _SKIN_COLOR))
    if options.show_lungs and anatomy.lungs:
        entries.append(("lungs", anatomy.lungs[0][2]))
    if anatomy.skeleton is not None and options.bone == "skeleton":
        entries.append(("skeleton", _BONE_COLOR))
    if anatomy.marrow is not None and options.bone == "marrow":
        entries.append(("marrow", anatomy.marrow_color))
    return entries


_PLANE_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}


def _side_distances(
    points: np.ndarray, planes: Sequence[str], position: np.ndarray, camera: str
) -> np.ndarray:
    """Signed distance (mm) of points from each plane, positive on the camera's side, ``(n, planes)``."""
    direction = np.asarray(CAMERAS[camera], dtype=float)
    columns = []
    for view in planes:
        axis = _PLANE_AXIS[view]
        sign = 1.0 if direction[axis] >= 0 else -1.0
        columns.append((np.asarray(points)[:, axis] - position[axis]) * sign)
    return np.stack(columns, axis=1)


def _cut(
    mesh: Any, planes: Sequence[str], position: np.ndarray, camera: str, keep_camera_side: bool = False
) -> Any:
    """Remove the part of ``mesh`` in front of every plane (the cutaway wedge), or keep only that part."""
    if not planes or mesh is None or not mesh.n_points:
        return mesh
    distance = _side_distances(mesh.points, planes, position, camera).min(axis=1)
    mesh = mesh.copy()
    mesh.point_data["_side_mm"] = distance
    return mesh.clip_scalar(scalars="_side_mm", value=0.0, invert=not keep_camera_side)


def add_scene(
    plotter: Any,
    ct: CTVolume,
    anatomy: AnatomyMeshes,
    dose: DoseGrid | None = None,
    plan: PlanLike | None = None,
    options: SceneOptions | None = None,
    *,
    font_scale: float = 1.0,
    wash: Wash | None = None,
    title: str | None = None,
    reference_gy: float | None = None,
    reference_name: str | None = None,
) -> dict[str, list[Any]]:
    """Add a plan's scene to the active renderer of ``plotter``.

    Parameters
    ----------
    plotter
        A :class:`pyvista.Plotter` (its active subplot is used).
    ct
        The CT (planes).
    anatomy
        Surfaces from :func:`prepare_anatomy`.
    dose
        Total dose (Gy) of ``plan``, or ``None``.
    plan
        The plan: title, prescription (isodose levels in %) and beams; ``None`` for anatomy only.
    options
        What to show.
    font_scale
        Text size relative to a 1280 x 800 picture.
    wash
        What the planes are coloured by instead of ``dose`` (e.g. a dose difference).
    title
        Title instead of the plan's name and prescription.
    reference_gy
        The dose (Gy) that 100 % stands for (isodose surfaces, colour map, colourwash threshold); default
        the plan's prescription. A comparison on one Gy scale gives every panel the same reference.
    reference_name
        How the legend names that reference (``"8 Gy"``) when it is not the plan's own prescription.

    Returns
    -------
    dict
        Actor groups by name (``"skin"``, ``"lungs"``, ``"bone"``, ``"isodose 95%"``, ``"beams"``,
        ``"planes"``, ...), for toggling them in the viewer.
    """
    options = options or SceneOptions()
    options = replace(options, camera=camera_for(options.camera, plan))
    plotter.set_background(_BACKGROUND)
    groups: dict[str, list[Any]] = {}
    top_gy = dose.max_gy if dose is not None else 0.0
    reference = prescription_total_gy(plan) if plan is not None else (top_gy if dose is not None else None)
    if reference_gy is not None:
        reference = float(reference_gy)
    outlines = plan.beam_outlines() if plan is not None else []
    position = np.asarray(
        options.plane_position_mm
        if options.plane_position_mm is not None
        else _scene_centre(plan, anatomy, ct),
        float,
    )
    planes = tuple(options.planes)
    cut_planes = planes if options.cutaway else ()

    def cut(mesh: Any) -> Any:
        return _cut(mesh, cut_planes, position, options.camera)

    shells: list[tuple[float, Any]] = []
    if dose is not None and reference is not None:
        shown = [pct for pct in options.isodose_pct if reference * pct / 100.0 < top_gy]
        inside = _dose_in_body(dose, anatomy.body)
        surfaces = isodose_surfaces(inside, [reference * pct / 100.0 for pct in shown], smoothing_mm=3.0)
        shells = [(pct, cut(surface)) for pct, surface in zip(shown, surfaces, strict=True)]
    frame = _frame_bounds(anatomy, plan, ct, options.frame)
    if anatomy.skin is not None and anatomy.skin.n_points and options.show_skin:
        skin = cut(anatomy.skin)
        if not planes and options.cutaway and shells:
            skin = _cut_front(skin, shells, position, options.camera)
        groups["skin"] = [
            _add_mesh(
                plotter,
                skin,
                color=_SKIN_COLOR,
                opacity=0.22,
                smooth_shading=True,
                culling="back",
                name="skin",
            )
        ]
    if options.show_lungs:
        groups["lungs"] = [
            _add_mesh(
                plotter, cut(surface), color=colour, opacity=0.5, smooth_shading=True, name=f"lung {name}"
            )
            for name, surface, colour in anatomy.lungs
            if surface.n_points
        ]
    if options.bone == "skeleton" and anatomy.skeleton is not None and anatomy.skeleton.n_points:
        # with isodose shells and no planes the skeleton is translucent: ribs and vertebrae would hide
        # a shell inside them (a PA spine field's dose lies in and around the vertebra)
        see_through = bool(shells) and not planes
        groups["bone"] = [
            _add_mesh(
                plotter,
                cut(anatomy.skeleton),
                color=_BONE_COLOR,
                opacity=_BONE_OPACITY_WITH_SHELLS if see_through else 1.0,
                smooth_shading=True,
                specular=0.2,
                name="bone",
            )
        ]
    elif (
        options.bone in ("marrow", "marrow-weight") and anatomy.marrow is not None and anatomy.marrow.n_points
    ):
        weighted = (
            options.bone == "marrow-weight" and "active_marrow_pct_per_100cc" in anatomy.marrow.point_data
        )
        if weighted:
            values = anatomy.marrow.point_data["active_marrow_pct_per_100cc"]
            marrow_clim = (0.0, float(np.percentile(values, 99)) or 1.0)
            groups["bone"] = [
                plotter.add_mesh(
                    cut(anatomy.marrow),
                    scalars="active_marrow_pct_per_100cc",
                    cmap="YlOrRd",
                    clim=marrow_clim,
                    smooth_shading=True,
                    name="bone",
                    show_scalar_bar=False,
                )
            ]
            if options.show_scalar_bar:
                _scalar_bar(
                    plotter,
                    "YlOrRd",
                    marrow_clim,
                    "active marrow\n(% per 100 cm³)",
                    font_scale,
                    position=(0.03, 0.32),
                    extent=(0.06, 0.40),
                )
        else:
            groups["bone"] = [
                _add_mesh(
                    plotter, cut(anatomy.marrow), color=anatomy.marrow_color, smooth_shading=True, name="bone"
                )
            ]
    cmap = clim = None
    if dose is not None and reference is not None:
        clim = options.dose_range_gy or dose_range_gy(reference, top_gy, options.threshold_pct)
        cmap = dose_cmap(100 * clim[0] / reference, 100 * clim[1] / reference)
        for pct, surface in shells:
            if surface.n_points:
                groups[f"isodose {pct:g}%"] = [
                    _add_mesh(
                        plotter,
                        surface,
                        color=isodose_color(pct),
                        opacity=(_ISODOSE_OPACITY_WITH_PLANES if planes else _ISODOSE_OPACITY).get(pct, 0.25),
                        smooth_shading=True,
                        name=f"isodose {pct:g}%",
                    )
                ]
    if wash is not None:
        cmap, clim = wash.cmap, wash.clim
    if planes:
        threshold = None if reference is None else reference * options.threshold_pct / 100.0
        groups["planes"] = []
        for view in planes:
            mesh = _plane_mesh(
                view,
                position,
                ct,
                anatomy.body,
                dose if wash is None else wash.values,
                cmap,
                clim,
                threshold if wash is None else wash.threshold,
                options.window,
                options.plane_pixel_mm,
                symmetric=wash is not None and wash.symmetric,
            )
            others = tuple(p for p in cut_planes if p != view)
            if others:
                # each plane shows only the face of the cut-away wedge
                mesh = _cut(mesh, others, position, options.camera, keep_camera_side=True)
            if mesh.n_points:
                groups["planes"].append(
                    plotter.add_mesh(mesh, scalars="rgb", rgb=True, lighting=False, name=f"plane {view}")
                )
    if options.show_beams and outlines:
        groups["beams"] = _add_beams(plotter, outlines, anatomy, ct, frame)
    # the colour map colours only the planes: without planes a bar would describe nothing on screen
    if options.show_scalar_bar and cmap is not None and clim is not None and groups.get("planes"):
        _scalar_bar(plotter, cmap, clim, "dose (Gy)" if wash is None else wash.label, font_scale)
    if options.show_title:
        plotter.add_text(
            title if title is not None else plan_title(plan),
            position="upper_left",
            font_size=int(15 * font_scale),
            color="white",
        )
    if options.show_legend:
        entries = _legend_entries(anatomy, options, reference if dose is not None else None, reference_name)
        if entries:
            plotter.add_legend(
                # VTK writes each line in its entry's colour: lightened so that blue reads on the dark
                # background (the swatch keeps the hue)
                [[label, _legible(colour)] for label, colour in entries],
                bcolor=None,
                border=False,
                size=_legend_size(plotter, entries, font_scale),
                loc="lower right",
                face="rectangle",
                font_family="arial",
            )
    if options.show_orientation:
        plotter.add_orientation_widget(orientation_marker(), viewport=(0.0, 0.0, 0.16, 0.22))
    set_camera(plotter, options.camera, frame, zoom=1.0)
    return groups


def _scene_centre(plan: PlanLike | None, anatomy: AnatomyMeshes, ct: CTVolume) -> np.ndarray:
    """Where planes and cuts pass by default: the plan's prescription point, else the body's centre."""
    point = None
    if plan is not None:
        body = anatomy.body
        point = _beams.prescription_point(
            plan, None if body is None else body.mask, ct.geometry if body is None else body.geometry
        )
    if point is not None:
        return np.asarray(point, float)
    lower, upper = ct.geometry.bounds_mm()
    if anatomy.skin is not None and anatomy.skin.n_points:
        lower, upper = np.asarray(anatomy.skin.bounds[0::2]), np.asarray(anatomy.skin.bounds[1::2])
    return (np.asarray(lower, float) + np.asarray(upper, float)) / 2


def _dose_in_body(dose: DoseGrid, body: Structure | None) -> DoseGrid:
    """The dose inside the body outline only (zero outside), so that isodose shells end at the skin."""
    if body is None:
        return dose
    mask = body if body.geometry.isclose(dose.geometry) else body.resampled(dose.geometry)
    # a product with the 0/1 mask, not np.where: the same values for a finite dose (zero outside, where a
    # negative rounding residue becomes -0.0), 1.5 ms instead of 3.8 ms on the sample's 5 mm grid
    return dose.with_array(np.multiply(dose.dose_gy, mask.mask, dtype=np.float32))


def _cut_front(
    skin: Any, shells: Sequence[tuple[float, Any]], position: np.ndarray, camera: str, margin_mm: float = 20.0
) -> Any:
    """Remove the skin between the camera and the prescription point over the shells' head-feet extent.

    The cut is a plane through ``position`` facing the camera's main horizontal direction (coronal for
    anterior and posterior cameras, sagittal for lateral ones), limited in z to the outermost shell plus
    ``margin_mm``: head and legs outside the dose keep their skin.
    """
    if skin is None or not skin.n_points:
        return skin
    bounds = [np.asarray(mesh.bounds, float) for _, mesh in shells if mesh.n_points]
    if not bounds:
        return skin
    z_low = min(b[4] for b in bounds) - margin_mm
    z_high = max(b[5] for b in bounds) + margin_mm
    direction = np.asarray(CAMERAS[camera], dtype=float)
    axis = 0 if abs(direction[0]) > abs(direction[1]) else 1
    points = np.asarray(skin.points)
    front = (points[:, axis] - position[axis]) * (1.0 if direction[axis] >= 0 else -1.0)
    within = np.minimum(points[:, 2] - z_low, z_high - points[:, 2])
    return _clip_below_zero(skin, np.minimum(front, within), "_front_mm")


def _sub_mesh(mesh: Any, faces: np.ndarray) -> Any:
    """The triangles ``faces`` (``(n, 3)`` point ids) of ``mesh`` with only the points they use."""
    pv = pyvista()
    used = np.zeros(mesh.n_points, dtype=bool)
    used[faces] = True
    renumber = np.cumsum(used) - 1
    part = pv.PolyData.from_regular_faces(np.asarray(mesh.points)[used], renumber[faces])
    for name in mesh.point_data.keys():
        part.point_data[name] = np.asarray(mesh.point_data[name])[used]
    if mesh.point_data.active_normals_name is not None:
        part.point_data.active_normals_name = mesh.point_data.active_normals_name
    return part


def _clip_below_zero(mesh: Any, values: np.ndarray, name: str) -> Any:
    """The part of ``mesh`` where ``values`` (one per point) is below zero.

    The same surface as ``clip_scalar(scalars=name, value=0.0, invert=True)`` on the whole mesh (the
    triangles that cross zero are cut by that same VTK clip), but only those triangles go through it:
    the others are kept or dropped whole. The skin's cut in front of the shells then takes a few
    milliseconds instead of twenty, after every border change in ``hbiview serve``.
    """
    values = np.asarray(values, dtype=float)
    if not mesh.n_cells or not mesh.is_all_triangles:
        whole = mesh.copy()
        whole.point_data[name] = values
        return whole.clip_scalar(scalars=name, value=0.0, invert=True)
    faces = np.asarray(mesh.regular_faces)
    below = values < 0.0
    first, second, third = below[faces[:, 0]], below[faces[:, 1]], below[faces[:, 2]]
    inside = first & second & third
    crossing = (first | second | third) & ~inside
    if not crossing.any():
        return _sub_mesh(mesh, faces[inside])
    rim = _sub_mesh(mesh, faces[crossing])
    rim.point_data[name] = values[np.unique(faces[crossing])]
    rim = rim.clip_scalar(scalars=name, value=0.0, invert=True)
    rim.point_data.remove(name)
    if not inside.any():
        return rim
    return _sub_mesh(mesh, faces[inside]).append_polydata(rim)


def _legend_size(plotter: Any, entries: Sequence[tuple[str, Any]], font_scale: float) -> tuple[float, float]:
    """Legend box (fractions of the viewport) for text of ``font_scale`` whatever the panel's size."""
    viewport = plotter.renderer.GetViewport()
    width_px = plotter.window_size[0] * (viewport[2] - viewport[0])
    height_px = plotter.window_size[1] * (viewport[3] - viewport[1])
    longest = max(len(text) for text, _ in entries)
    width = 11.0 * font_scale * longest / max(width_px, 1.0)
    height = 24.0 * font_scale * len(entries) / max(height_px, 1.0)
    return float(min(width, 0.6)), float(min(height, 0.6))


def _legible(colour: Sequence[float], white: float = 0.35) -> tuple[float, float, float]:
    """``colour`` mixed with a share of white, so that dark colours stay readable on a dark background."""
    r, g, b = (float(c) for c in colour)
    return (r + (1 - r) * white, g + (1 - g) * white, b + (1 - b) * white)


def _clip_segment(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of segment ``a``-``b`` inside ``box`` ``(xmin, xmax, ymin, ymax, zmin, zmax)``."""
    crossing = _beams._box_crossing(a, b - a, box[0::2], box[1::2])
    if crossing is None:
        return None
    t0, t1 = max(crossing[0], 0.0), min(crossing[1], 1.0)
    if t1 <= t0:
        return None
    return a + t0 * (b - a), a + t1 * (b - a)


def _add_beams(
    plotter: Any,
    outlines: Sequence[tuple[Any, Any]],
    anatomy: AnatomyMeshes,
    ct: CTVolume,
    frame: npt.ArrayLike | None = None,
    margin_mm: float = 120.0,
) -> list[Any]:
    """Divergent edges and the field outline on the skin; edges end ``margin_mm`` outside ``frame``.

    A source far outside the framed box (an extended SSD of 2 m) would draw its edges across the whole
    picture, and in a comparison across the neighbouring panels: the edges are clipped to the box plus
    the margin, and the source is marked only when it lies inside.
    """
    pv = pyvista()
    actors = []
    box = None
    if frame is not None:
        box = np.asarray(frame, dtype=float) + np.array([-1, 1, -1, 1, -1, 1]) * margin_mm
    for index, (source, corners) in enumerate(outlines):
        src, crn = _beams.check_outline(source, corners)
        far = src + _exit_factor(src, crn, anatomy, ct) * (crn - src)
        segments = [(src, end) for end in far]
        if box is not None:
            segments = [part for a, b in segments if (part := _clip_segment(a, b, box)) is not None]
        if segments:
            edges = pv.PolyData()
            edges.points = np.vstack([np.vstack(part) for part in segments])
            edges.lines = np.hstack([[2, 2 * i, 2 * i + 1] for i in range(len(segments))])
            actors.append(
                _add_mesh(
                    plotter,
                    edges,
                    color=_BEAM_COLOR,
                    line_width=1.2,
                    opacity=0.45,
                    name=f"beam {index} edges",
                )
            )
        if box is None or np.all((src >= box[0::2]) & (src <= box[1::2])):
            actors.append(
                _add_mesh(
                    plotter,
                    pv.Sphere(radius=12.0, center=src),
                    color=_BEAM_COLOR,
                    name=f"beam {index} source",
                )
            )
        ring = _beams.outline_points(crn, per_side=2)[:-1]
        # the field at the isocentre plane, where that plane crosses the body (an extended-SSD set-up puts
        # it a metre in front of the patient, where a rectangle in the air would only puzzle)
        centre = crn.mean(axis=0)
        if box is None or np.all((centre >= box[0::2] + margin_mm) & (centre <= box[1::2] - margin_mm)):
            iso = pv.PolyData()
            iso.points = ring
            iso.lines = np.hstack([[len(ring) + 1, *range(len(ring)), 0]])
            actors.append(
                _add_mesh(
                    plotter, iso, color=_BEAM_COLOR, line_width=1.0, opacity=0.35, name=f"beam {index} iso"
                )
            )
        if anatomy.body is not None:
            points = _beams.skin_outline(
                src, crn, anatomy.body.mask, anatomy.body.geometry, per_side=30, step_mm=1.5
            )
            runs = _runs(points)
            if runs:
                line = pv.PolyData()
                line.points = np.concatenate(runs)
                offsets = np.cumsum([0, *[len(r) for r in runs]])
                line.lines = np.hstack(
                    [[len(r), *range(o, o + len(r))] for r, o in zip(runs, offsets, strict=False)]
                )
                actors.append(
                    _add_mesh(plotter, line, color=(1.0, 1.0, 0.55), line_width=4, name=f"beam {index} skin")
                )
    return actors


def _exit_factor(src: np.ndarray, crn: np.ndarray, anatomy: AnatomyMeshes, ct: CTVolume) -> float:
    """Run the edges to 50 mm past the far side of the body (or of the CT), in source-to-field units."""
    if anatomy.skin is not None and anatomy.skin.n_points:
        b = np.asarray(anatomy.skin.bounds, dtype=float)
        lower, upper = b[0::2], b[1::2]
    else:
        lower, upper = ct.geometry.bounds_mm()
    box = np.array(np.meshgrid(*zip(lower, upper, strict=True), indexing="ij")).reshape(3, -1).T
    axis = crn.mean(axis=0) - src
    distance = float(np.linalg.norm(axis))
    reach = float(np.max((box - src) @ (axis / distance))) + 50.0
    return max(1.0, reach / distance)


def _runs(points: np.ndarray) -> list[np.ndarray]:
    """Split a polyline at NaN rows into runs of at least two points."""
    good = np.all(np.isfinite(points), axis=1)
    runs, current = [], []
    for point, ok in zip(points, good, strict=True):
        if ok:
            current.append(point)
        elif current:
            runs.append(np.array(current))
            current = []
    if current:
        runs.append(np.array(current))
    return [r for r in runs if len(r) >= 2]
