"""The trame application of ``hbiview serve``: controls, 3D scene, slices, key numbers, DVHs, comparison.

Everything the page needs is served by this process from the installed packages (trame's Vue and
Vuetify bundles, vtk.js, the Roboto font): no internet. The 3D scene is a vtk.js *local* view: the
server sends surfaces, the browser renders them, so the server needs no GPU and a rotation costs the
server nothing. Slices and the DVH chart are pictures made by :mod:`hbiview.serve.pictures`.

The page is read-only over the case: the browser chooses among the plans given on the command line and
their field settings; it never names a file, and nothing is written on the server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from hbiview.errors import HbiviewError, InputError, PlanError
from hbiview.serve.model import Computed, FieldSettings, ServeModel

__all__ = ["ViewerApp", "check_port", "serve"]

_VIEWS = ("axial", "coronal", "sagittal")
_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}
#: Scenes whose VTK objects are kept alive (see :meth:`ViewerApp._push_scene`); a few MB each.
KEPT_SCENES = 64
#: Slice pictures kept (PNG data URLs, about 60 kB each) so that one not changed is not drawn again.
KEPT_PICTURES = 12

_TOGGLES = {"skin": "skin", "lungs": "lungs", "bone": "bones", "shells": "isodose shells", "beams": "beams"}


def _require_trame() -> None:
    try:
        import trame  # noqa: F401
        import trame_vtk  # noqa: F401
        import trame_vuetify  # noqa: F401
    except ImportError as exc:
        raise InputError(
            "'hbiview serve' needs the web extra: pip install 'hbiview[web]' "
            "(trame, trame-vuetify, trame-vtk)"
        ) from exc


def check_port(host: str, port: int) -> None:
    """Refuse a port that is already in use on ``host`` (before the long steps).

    Raises
    ------
    InputError
        When the port cannot be bound, naming host and port.
    """
    import socket

    if not 0 <= int(port) <= 65535:
        raise InputError(f"--port {port}: choose a port between 1024 and 65535 (0: any free port)")
    if int(port) == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise InputError(
                f"port {port} on {host} cannot be used ({exc.strerror or exc}): another program holds it; "
                "choose another with --port"
            ) from None


def _millimetres(text: str | None, what: str) -> float | None:
    """A length typed on the page (mm) as a number; ``None`` for an empty field (the preset's choice).

    Raises
    ------
    PlanError
        For text that is not a number.
    """
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise PlanError(f"{what} {text!r} is not a number of mm") from None


def _fmt(value: float | None, unit: str, digits: int = 2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f} {unit}"


class ViewerApp:
    """The web page over a :class:`~hbiview.serve.model.ServeModel`.

    Parameters
    ----------
    model
        Plans on the case.
    name
        trame server name (one per application in a process).
    anatomy
        Skin, lung and skeleton surfaces already made (:func:`hbiview.render.scene.prepare_anatomy`);
        default: made here.
    """

    def __init__(self, model: ServeModel, name: str = "hbiview", anatomy: Any = None) -> None:
        _require_trame()
        from trame.app import get_server

        from hbiview.render._pv import plotter as make_plotter
        from hbiview.render.scene import prepare_anatomy

        self.model = model
        self.server = get_server(name, client_type="vue3")
        self.state = self.server.state
        self.ct = model.case.ct
        self.structures = list(model.case.structures.values())
        from hbiview.serve.pictures import SlicePainter

        self.painter = SlicePainter(self.ct, [st for st in self.structures if st.name in ("Body", "Lungs")])
        self.anatomy = (
            anatomy if anatomy is not None else prepare_anatomy(model.case.structures, bone="skeleton")
        )
        self._bones: dict[str, Any] = {"skeleton": self.anatomy}
        # one render window, two renderers sharing one camera: the comparison's linked cameras (vtk.js
        # gets one camera object referenced by both renderers)
        self.plotter = make_plotter(off_screen=True, shape=(1, 2), window_size=(1200, 700), border=False)
        self.plotter.link_views()
        self.groups: list[dict[str, list[Any]]] = [{}, {}]
        # per renderer: what its lung and bone actors were made for (they are kept while it holds)
        self._static: list[tuple[Any, ...] | None] = [None, None]
        # the slice pictures are made here while the scene's surfaces are made in the caller's thread
        self._pictures = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-pictures")
        self._kept_pictures: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], str]] = OrderedDict()
        self._anatomies: dict[Any, Any] = {}
        # the maximum of each dose grid shown, while the grid lives (dose grids are values)
        self._tops: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._kept: list[list[Any]] = []
        self.current: Computed | None = None
        self.pinned: FieldSettings | None = None
        self.other: Computed | None = None
        self._camera_set = False
        self._pending = False
        self._running = False
        self.last_seconds = 0.0
        self._initial_state()
        self._build_ui()
        self.state.change(
            "superior", "inferior", "energy", "margin_mm", "ssd_mm", "width_mm", "level", "heterogeneity",
            "compensation", "keep_setup", "compare", "plan_b",
        )(self._on_settings)  # fmt: skip
        self.state.change("plan_a")(self._on_plan)
        self.state.change(*(f"show_{k}" for k in _TOGGLES))(self._on_toggles)
        self.state.change("bone")(self._on_bone)
        self.state.change("pos_axial", "pos_coronal", "pos_sagittal", "compare_view", "window")(
            self._on_slices
        )
        self.server.controller.pin = self.pin
        self.server.controller.on_server_ready.add(lambda **_: self.request_update())

    # ------------------------------------------------------------------------------------------ state
    def _initial_state(self) -> None:
        s = self.state
        first = self.model.default_settings()
        self._settings_to_state(first)
        s.plan_a = first.plan
        s.plans = self.model.plans
        s.borders = self.model.borders()
        from hbiview.plans import COMPENSATIONS, ENERGIES, MAX_SSD_MM

        s.energies = list(ENERGIES)
        s.ssds = [f"{v:.0f}" for v in range(1000, int(MAX_SSD_MM) + 1, 100)]
        s.compensations = list(COMPENSATIONS)
        s.compare = False
        s.plan_b = "pinned"
        s.plan_b_items = [{"title": "pinned field", "value": "pinned"}] + [
            {"title": p, "value": p} for p in self.model.plans
        ]
        for key in _TOGGLES:
            s[f"show_{key}"] = True
        lower, upper = self.ct.geometry.bounds_mm()
        for view in _VIEWS:
            axis = _AXIS[view]
            s[f"range_{view}"] = [float(lower[axis]), float(upper[axis])]
            s[f"pos_{view}"] = float((lower[axis] + upper[axis]) / 2)
            s[f"img_{view}"] = ""
        s.compare_view = "coronal"
        s.compare_views = list(_VIEWS)
        s.img_b = ""
        s.img_diff = ""
        s.diff_text = ""
        s.window = "soft"
        s.bone = "skeleton"
        s.bones = [
            {"title": "skeleton", "value": "skeleton"},
            {"title": "marrow", "value": "marrow"},
            {"title": "marrow by active-marrow weight", "value": "marrow-weight"},
        ]
        s.busy = False
        s.message = ""
        s.title_a = ""
        s.title_b = ""
        s.description_a = ""
        s.warnings_a = []
        s.numbers_a = []
        s.numbers_b = []
        s.pneumonitis_a = ""
        s.pneumonitis_b = ""
        s.dvh = ""
        s.timing = ""
        s.pinned_text = ""

    def _settings_to_state(self, settings: FieldSettings) -> None:
        s = self.state
        # None, not "": an empty field shows the placeholder (the preset's choice) and no clear button
        s.superior = settings.superior or None
        s.inferior = settings.inferior or None
        s.energy = settings.energy or None
        s.margin_mm = settings.margin_mm if settings.margin_mm is not None else 20.0
        s.ssd_mm = f"{settings.ssd_mm:g}" if settings.ssd_mm is not None else None
        s.width_mm = settings.width_mm if settings.width_mm is not None else 80.0
        s.level = settings.level or ""
        s.heterogeneity = settings.heterogeneity
        s.compensation = settings.compensation
        s.keep_setup = settings.keep_setup
        s.is_preset = self.model.is_preset(settings.plan)
        s.is_hbi = settings.plan.endswith("-hbi")
        s.is_spine = settings.plan == "spine"

    def settings_from_state(self) -> FieldSettings:
        """The :class:`FieldSettings` the controls show now (values from the page are checked here)."""
        s = self.state
        plan = str(s.plan_a)
        base = self.model.default_settings(plan)
        if not self.model.is_preset(plan):
            return base.with_(heterogeneity=bool(s.heterogeneity))

        def text(value: Any) -> str | None:
            value = str(value).strip() if value is not None else ""
            return value or None

        changes: dict[str, Any] = {"heterogeneity": bool(s.heterogeneity)}
        changes["energy"] = text(s.energy)
        changes["compensation"] = str(s.compensation or "none")
        if plan.endswith("-hbi"):
            changes["superior"] = text(s.superior)
            changes["inferior"] = text(s.inferior)
            margin = float(s.margin_mm)
            changes["margin_mm"] = None if margin == 20.0 and base.margin_mm is None else margin
            changes["ssd_mm"] = _millimetres(text(s.ssd_mm), "SSD")
            changes["keep_setup"] = bool(s.keep_setup)
        if plan == "spine":
            changes["level"] = text(s.level)
            width = float(s.width_mm)
            changes["width_mm"] = None if width == 80.0 and base.width_mm is None else width
        return base.with_(**changes)

    # -------------------------------------------------------------------------------------- callbacks
    def _on_plan(self, plan_a: str, **_: Any) -> None:
        if plan_a not in self.model.plans:  # the page offers only the loaded plans
            self.state.plan_a = self.model.plans[0]
            return
        self._settings_to_state(self.model.default_settings(plan_a))
        self.request_update()

    def _on_settings(self, **_: Any) -> None:
        self.request_update()

    def _on_toggles(self, **_: Any) -> None:
        self._apply_toggles()
        self._push_scene()

    def _on_bone(self, **_: Any) -> None:
        if self.current is not None:
            references, clims = self._scale()
            self._draw_scene(references, clims)

    def _on_slices(self, **_: Any) -> None:
        if self.current is not None:
            self._update_slices()

    def pin(self) -> None:
        """Keep the current field as the comparison's plan B (the "pin" button)."""
        if self.current is not None:
            self.pinned = self.current.settings
            self.state.pinned_text = self.pinned.describe()
            self.request_update()

    def request_update(self) -> None:
        """Recompute (in a worker thread) and redraw; changes made meanwhile are taken up afterwards."""
        from trame.app import asynchronous

        if self._running:
            self._pending = True
            return
        asynchronous.create_task(self._update())

    async def _update(self) -> None:
        self._running = True
        try:
            while True:
                self._pending = False
                await self._update_once()
                if not self._pending:
                    break
        finally:
            self._running = False

    async def _update_once(self) -> None:
        s = self.state
        try:
            settings_a = self.model.check(self.settings_from_state())
            settings_b = self._settings_b()
        except HbiviewError as exc:
            with s:
                s.message = str(exc)
            return
        needed = [x for x in (settings_a, settings_b) if x is not None and self.model.cached(x) is None]
        if needed:
            with s:
                s.busy = True
                s.message = ""
        loop = asyncio.get_running_loop()
        try:
            computed_a = await loop.run_in_executor(None, self.model.compute, settings_a)
            computed_b = None
            if settings_b is not None:
                computed_b = await loop.run_in_executor(None, self.model.compute, settings_b)
        except HbiviewError as exc:
            with s:
                s.busy = False
                s.message = str(exc)
            return
        with s:
            self.show(computed_a, computed_b)
            s.busy = False
            s.message = ""

    def show(self, computed_a: Computed, computed_b: Computed | None = None) -> None:
        """Draw computed plans: numbers, DVHs, slices and the 3D scene (B beside A when given)."""
        self.current, self.other = computed_a, computed_b
        self.last_seconds = computed_a.numbers.seconds
        self._redraw()

    def _settings_b(self) -> FieldSettings | None:
        s = self.state
        if not s.compare:
            return None
        if s.plan_b == "pinned":
            return self.pinned
        if s.plan_b in self.model.plans:
            return self.model.default_settings(str(s.plan_b))
        return None

    # ---------------------------------------------------------------------------------------- drawing
    def _max_gy(self, dose: Any) -> float:
        """``dose.max_gy``, found once per dose grid shown (a redraw asks three times; 2 M voxels at 5 mm)."""
        top = self._tops.get(dose)
        if top is None:
            top = self._tops[dose] = dose.max_gy
        return top

    def _scale(self) -> tuple[list[float], list[tuple[float, float]]]:
        """Reference (Gy) and colour range (Gy) of A (and B): one scale for both when comparing."""
        from hbiview.render.colors import dose_range_gy, shared_dose_scale

        runs = [c.run for c in (self.current, self.other) if c is not None]
        if len(runs) == 1:
            rx = runs[0].prescription_gy
            return [rx], [dose_range_gy(rx, self._max_gy(runs[0].dose))]
        scale = shared_dose_scale([r.prescription_gy for r in runs], [self._max_gy(r.dose) for r in runs])
        return list(scale.references_gy), list(scale.clims_gy)

    def _redraw(self) -> None:
        assert self.current is not None
        s = self.state
        a, b = self.current, self.other
        references, clims = self._scale()
        # after the first draw (which places the slices through the prescription point) the slice
        # pictures do not depend on the scene: made in the worker thread meanwhile (numpy and zlib let
        # go of the GIL, as VTK's filters do)
        pictures = None
        if self._camera_set:
            pictures = self._pictures.submit(self._slice_pictures(references, clims))
        self._draw_scene(references, clims)
        s.title_a = self._title(a)
        s.title_b = self._title(b) if b is not None else ""
        s.description_a = a.run.plan.description
        s.warnings_a = list(a.warnings)
        s.numbers_a = self._numbers(a)
        s.numbers_b = self._numbers(b) if b is not None else []
        s.pneumonitis_a = a.numbers.pneumonitis
        s.pneumonitis_b = b.numbers.pneumonitis if b is not None else ""
        s.timing = (
            f"computed in {a.numbers.seconds:.2f} s"
            if a.numbers.seconds > 0
            else "taken from the session's cache"
        )
        self._draw_dvh()
        if pictures is None:
            self._update_slices(references, clims)
        else:
            s.update(pictures.result())

    def _anatomy_for(self, geometry: Any, bone: str = "skeleton") -> Any:
        """The anatomy showing ``bone``, with its body already on the dose grid.

        The scene then masks the dose without resampling the body; marrow surfaces are made on first use.
        """
        from dataclasses import replace

        from hbiview.render.scene import prepare_anatomy

        bone = bone if bone in ("skeleton", "marrow", "marrow-weight") else "skeleton"
        key = (bone, geometry.shape, geometry.affine.tobytes())
        hit = self._anatomies.get(key)
        if hit is None:
            meshes = self._bones.get(bone)
            if meshes is None:
                meshes = self._bones[bone] = prepare_anatomy(self.model.case.structures, bone=bone)
            body = meshes.body
            if body is not None and not body.geometry.isclose(geometry):
                body = body.resampled(geometry)
            hit = self._anatomies[key] = replace(meshes, body=body)
        return hit

    @staticmethod
    def _plan(c: Computed) -> Any:
        """The plan of a computed run, as the renderer takes it."""
        return c.run.plan

    @staticmethod
    def _title(c: Computed) -> str:
        return f"{c.settings.describe()}: {c.numbers.prescription_gy:g} Gy in {c.numbers.fractions}"

    @staticmethod
    def _numbers(c: Computed) -> list[dict[str, str]]:
        n = c.numbers
        rows = [
            {"name": "mean lung dose", "value": _fmt(n.mean_lung_dose_gy, "Gy")},
            {
                "name": "active marrow in the field (50 % isodose)",
                "value": _fmt(n.marrow_in_field_pct, "%", 1),
            },
            {"name": "hot spot (body D0.03cc)", "value": f"{n.hot_spot_gy:.2f} Gy ({n.hot_spot_pct:.0f} %)"},
        ]
        return rows

    def _draw_dvh(self) -> None:
        from hbiview.serve.pictures import dvh_svg

        assert self.current is not None
        curves = [(f"{c.structure}", c) for c in self.current.numbers.dvhs]
        top = self._max_gy(self.current.run.dose)
        if self.other is not None:
            curves += [(f"{c.structure} (B)", c) for c in self.other.numbers.dvhs]
            top = max(top, self._max_gy(self.other.run.dose))
        self.state.dvh = dvh_svg(
            curves, dose_max_gy=top * 1.05, prescription_gy=self.current.numbers.prescription_gy
        )

    def _draw_scene(self, references: list[float], clims: list[tuple[float, float]]) -> None:
        from dataclasses import replace

        from hbiview.render.scene import SceneOptions, add_scene, camera_for, set_camera

        runs = [self.current, self.other]
        bone = (
            str(self.state.bone) if self.state.bone in ("skeleton", "marrow", "marrow-weight") else "skeleton"
        )
        options = SceneOptions(
            bone=bone, show_title=False, show_scalar_bar=False, show_legend=False, show_orientation=False
        )
        camera = None
        if self._camera_set:
            cam = self.plotter.renderers[0].GetActiveCamera()
            camera = (cam.GetPosition(), cam.GetFocalPoint(), cam.GetViewUp())
        for i, computed in enumerate(runs):
            renderer = self.plotter.renderers[i]
            if computed is None:
                renderer.clear()
                self.groups[i], self._static[i] = {}, None
                continue
            anatomy = self._anatomy_for(computed.run.dose.geometry, bone)
            # lungs and bones do not change with the field: kept while the anatomy, the bones shown and
            # whether shells are drawn (which makes the skeleton translucent) stay the same
            top_gy = self._max_gy(computed.run.dose)
            shells = any(references[i] * pct / 100.0 < top_gy for pct in options.isodose_pct)
            static = (id(anatomy), bone, shells)
            kept: dict[str, list[Any]] = {}
            drawn = replace(options, dose_range_gy=clims[i])
            if self._static[i] == static:
                kept = {k: v for k, v in self.groups[i].items() if k in ("lungs", "bone")}
                for name, actors in self.groups[i].items():
                    if name not in kept:
                        for actor in actors:
                            renderer.remove_actor(actor, reset_camera=False, render=False)
                drawn = replace(drawn, show_lungs=False, bone="none")
            else:
                renderer.clear()
            self.plotter.subplot(0, i)
            groups = add_scene(
                self.plotter,
                self.ct,
                anatomy,
                computed.run.dose,
                self._plan(computed),
                drawn,
                reference_gy=references[i],
            )
            self.groups[i] = {**kept, **groups}
            self._static[i] = static
        compare = self.other is not None
        self.plotter.renderers[0].SetViewport(0.0, 0.0, 0.5 if compare else 1.0, 1.0)
        self.plotter.renderers[1].SetViewport(0.5 if compare else 1.0, 0.0, 1.0, 1.0)
        self.plotter.subplot(0, 0)
        if camera is not None:
            cam = self.plotter.renderers[0].GetActiveCamera()
            cam.SetPosition(*camera[0])
            cam.SetFocalPoint(*camera[1])
            cam.SetViewUp(*camera[2])
        else:
            assert self.current is not None
            from hbiview.render.beams import prescription_point
            from hbiview.render.scene import _frame_bounds

            plan = self._plan(self.current)
            set_camera(self.plotter, camera_for("auto", plan), _frame_bounds(self.anatomy, plan, self.ct))
            self._camera_set = True
            # the slices start through the prescription point of the first plan
            body = self.anatomy.body
            point = prescription_point(
                plan, None if body is None else body.mask, self.ct.geometry if body is None else body.geometry
            )
            if point is not None:
                for view in _VIEWS:
                    self.state[f"pos_{view}"] = round(float(point[_AXIS[view]]) / 2.5) * 2.5
        self.plotter.renderers[1].SetActiveCamera(self.plotter.renderers[0].GetActiveCamera())
        self._apply_toggles()
        self._push_scene(new_objects=True)

    def _apply_toggles(self) -> None:
        for groups in self.groups:
            for name, actors in groups.items():
                key = "shells" if name.startswith("isodose") else name
                visible = bool(self.state[f"show_{key}"]) if key in _TOGGLES else True
                for actor in actors:
                    actor.SetVisibility(visible)

    def _push_scene(self, new_objects: bool = False) -> None:
        """Send the scene to the browsers.

        trame-vtk names VTK objects by their memory address, and vtk.js keeps the objects it was sent under
        those names: a new surface allocated where a freed one lived would be taken for it and only
        patched (stray triangles of an old mesh on the new points). The actors of the last
        :data:`KEPT_SCENES` scenes are therefore kept alive, so that their addresses are not reused.
        """
        if new_objects:
            self._kept.append([a for groups in self.groups for actors in groups.values() for a in actors])
            del self._kept[:-KEPT_SCENES]
        view = getattr(self, "view3d", None)
        if view is not None:
            view.update()

    def _update_slices(
        self, references: list[float] | None = None, clims: list[tuple[float, float]] | None = None
    ) -> None:
        if self.current is None:
            return
        if references is None or clims is None:
            references, clims = self._scale()
        self.state.update(self._slice_pictures(references, clims)())

    def _slice_pictures(
        self, references: list[float], clims: list[tuple[float, float]]
    ) -> Callable[[], dict[str, str]]:
        """What makes the slice pictures of the current plans: state keys and their PNG data URLs.

        The page's state (slice positions, window, compared view) is read here; the returned function
        reads nothing of it, so it may run in another thread. A picture drawn from the same dose, slice,
        window and scale as one of the last :data:`KEPT_PICTURES` is not drawn again (plan B's slice after
        a change of A, the two views whose slider did not move).
        """
        from hbiview.serve.pictures import png_data_url

        assert self.current is not None
        s = self.state
        window = str(s.window) if s.window in ("soft", "lung", "bone") else "soft"
        a, b = self.current, self.other
        positions = {v: float(np.clip(float(s[f"pos_{v}"]), *s[f"range_{v}"])) for v in _VIEWS}
        compared = s.compare_view if s.compare_view in _VIEWS else "coronal"
        painter, kept = self.painter, self._kept_pictures

        def picture(doses: tuple[Any, ...], key: tuple[Any, ...], draw: Callable[[], np.ndarray]) -> str:
            # the doses are held with the picture: their id()s cannot be reused while it is kept
            full_key = (tuple(id(d) for d in doses), *key)
            hit = kept.get(full_key)
            if hit is not None:
                kept.move_to_end(full_key)
                return hit[1]
            url = png_data_url(draw())
            kept[full_key] = (doses, url)
            while len(kept) > KEPT_PICTURES:
                kept.popitem(last=False)
            return url

        def slice_of(c: Computed, view: str, k: int) -> str:
            dose, position = c.run.dose, positions[view]
            return picture(
                (dose,),
                ("slice", view, position, window, references[k], tuple(clims[k])),
                lambda: painter.rgb(
                    view, position, dose=dose, reference_gy=references[k], clim_gy=clims[k], window=window
                ),
            )

        def make() -> dict[str, str]:
            out = {f"img_{view}": slice_of(a, view, 0) for view in _VIEWS}
            if b is None:
                out["img_b"] = out["img_diff"] = out["diff_text"] = ""
                return out
            out["img_b"] = slice_of(b, compared, 1)
            position = positions[compared]
            diff, limit = painter.difference(compared, position, a.run.dose, b.run.dose, window=window)
            out["img_diff"] = png_data_url(diff)
            out["diff_text"] = f"A minus B, blue -{limit:.2f} Gy to red +{limit:.2f} Gy"
            return out

        return make

    # ------------------------------------------------------------------------------------------- page
    def _build_ui(self) -> None:
        from trame.ui.vuetify3 import SinglePageWithDrawerLayout
        from trame.widgets import html
        from trame.widgets import vtk as vtk_widgets
        from trame.widgets import vuetify3 as v3

        with SinglePageWithDrawerLayout(self.server, full_height=True) as layout:
            layout.title.set_text("hbiview: what if the border moves?")
            self.server.state.trame__title = "hbiview serve"
            with layout.toolbar:
                v3.VSpacer()
                html.Div("{{ timing }}", classes="text-caption mr-4", id="timing")
                v3.VProgressLinear(
                    indeterminate=True, absolute=True, location="bottom", color="orange", active=("busy",)
                )
            with layout.drawer as drawer:
                drawer.width = 330
                with v3.VContainer(classes="pa-3"):
                    v3.VSelect(label="plan", v_model=("plan_a",), items=("plans",), density="compact")
                    with html.Div(v_if="is_hbi"):
                        v3.VCombobox(
                            label="superior border (landmark, vertebra, disc or z mm)",
                            v_model=("superior",), items=("borders",), density="compact", clearable=True,
                            placeholder="preset default", persistent_placeholder=True,
                        )  # fmt: skip
                        v3.VCombobox(
                            label="inferior border (landmark, vertebra, disc or z mm)",
                            v_model=("inferior",), items=("borders",), density="compact", clearable=True,
                            placeholder="preset default", persistent_placeholder=True,
                        )  # fmt: skip
                        v3.VCombobox(
                            label="SSD (mm, to the skin on the axis)", v_model=("ssd_mm",), items=("ssds",),
                            density="compact", clearable=True, placeholder="preset: shortest that covers",
                            persistent_placeholder=True,
                        )  # fmt: skip
                        v3.VSlider(
                            label="lateral margin (mm)", v_model=("margin_mm",), min=0, max=60, step=5,
                            thumb_label=True, density="compact",
                        )  # fmt: skip
                        v3.VSwitch(
                            label="borders move the jaws (set-up kept)", v_model=("keep_setup",),
                            density="compact", hide_details=True, color="primary",
                        )  # fmt: skip
                    with html.Div(v_if="is_spine"):
                        v3.VCombobox(label="level", v_model=("level",), items=("borders",), density="compact")
                        v3.VSlider(
                            label="width (mm)", v_model=("width_mm",), min=40, max=150, step=10,
                            thumb_label=True, density="compact",
                        )  # fmt: skip
                    with html.Div(v_if="is_preset"):
                        v3.VSelect(
                            label="energy", v_model=("energy",), items=("energies",), density="compact",
                            clearable=True, placeholder="preset default", persistent_placeholder=True,
                        )  # fmt: skip
                        v3.VSelect(
                            label="compensation", v_model=("compensation",), items=("compensations",),
                            density="compact",
                        )  # fmt: skip
                    v3.VSwitch(
                        label="lung (heterogeneity) correction",
                        v_model=("heterogeneity",),
                        density="compact",
                        color="primary",
                    )
                    v3.VAlert(
                        "{{ message }}", v_if="message", type="warning", density="compact", id="message"
                    )
                    v3.VDivider(classes="my-2")
                    html.Div("show", classes="text-subtitle-2")
                    for key, label in _TOGGLES.items():
                        v3.VCheckbox(
                            label=label, v_model=(f"show_{key}",), density="compact", hide_details=True
                        )
                    v3.VSelect(
                        label="bones shown", v_model=("bone",), items=("bones",), density="compact",
                    )  # fmt: skip
                    v3.VSelect(
                        label="CT window", v_model=("window",), items=("['soft', 'lung', 'bone']",),
                        density="compact",
                    )  # fmt: skip
                    v3.VDivider(classes="my-2")
                    html.Div("compare", classes="text-subtitle-2")
                    v3.VBtn("pin this field as B", click=self.server.controller.pin, size="small", block=True)
                    html.Div("B pinned: {{ pinned_text }}", v_if="pinned_text", classes="text-caption")
                    v3.VSwitch(label="compare A with B", v_model=("compare",), density="compact")
                    v3.VSelect(
                        label="plan B", v_model=("plan_b",), items=("plan_b_items",), density="compact",
                        v_if="compare",
                    )  # fmt: skip
                    v3.VSelect(
                        label="slice compared", v_model=("compare_view",), items=("compare_views",),
                        density="compact", v_if="compare",
                    )  # fmt: skip
            with layout.content:
                with v3.VContainer(fluid=True, classes="pa-2"):
                    with v3.VRow(dense=True):
                        with v3.VCol(cols=8):
                            with html.Div(classes="d-flex text-subtitle-2"):
                                html.Div("A: {{ title_a }}", style="flex: 1", id="title_a")
                                html.Div("B: {{ title_b }}", v_if="title_b", style="flex: 1")
                            with html.Div(style="height: 46vh; position: relative"):
                                self.view3d = vtk_widgets.VtkLocalView(self.plotter.render_window)
                        with v3.VCol(cols=4):
                            with v3.VTable(density="compact", id="numbers"):
                                with html.Tbody():
                                    with html.Tr(v_for="row, i in numbers_a", key="i"):
                                        html.Td("{{ row.name }}")
                                        html.Td("{{ row.value }}", classes="font-weight-bold")
                                        html.Td("{{ numbers_b[i] ? 'B ' + numbers_b[i].value : '' }}")
                            html.Div("{{ pneumonitis_a }}", classes="text-caption my-1", id="pneumonitis")
                            html.Div("{{ description_a }}", classes="text-caption my-1", id="description")
                            html.Div(
                                "{{ note }}",
                                v_for="note in warnings_a",
                                classes="text-caption text-orange-darken-3",
                            )
                            html.Div("B: {{ pneumonitis_b }}", v_if="pneumonitis_b", classes="text-caption")
                            html.Div(v_html=("dvh",), id="dvh")
                    with v3.VRow(dense=True):
                        for view, axis in (("axial", "z"), ("coronal", "y"), ("sagittal", "x")):
                            with v3.VCol(cols=4):
                                v3.VSlider(
                                    label=f"{view} {axis} (mm)", v_model=(f"pos_{view}",),
                                    min=(f"range_{view}[0]",), max=(f"range_{view}[1]",), step=2.5,
                                    density="compact", hide_details=True, thumb_label=True,
                                )  # fmt: skip
                    with v3.VRow(dense=True, v_if="!compare"):
                        for view in _VIEWS:
                            with v3.VCol(cols=4):
                                html.Img(
                                    src=(f"img_{view}",), style="max-width: 100%; max-height: 38vh",
                                    id=f"img_{view}",
                                )  # fmt: skip
                    with v3.VRow(dense=True, v_if="compare"):
                        a_image = (
                            "compare_view == 'axial' ? img_axial : compare_view == 'coronal' ? img_coronal "
                            ": img_sagittal"
                        )
                        for label, image in (("A", a_image), ("B", "img_b"), ("A minus B", "img_diff")):
                            with v3.VCol(cols=4):
                                html.Div(label, classes="text-subtitle-2")
                                html.Img(src=(image,), style="max-width: 100%; max-height: 38vh")
                        with v3.VCol(cols=12):
                            html.Div("{{ diff_text }}", classes="text-caption")


def _shown_host(host: str) -> str:
    """The host name to put in the printed URL: this machine's name when listening on every interface."""
    import socket

    if host in ("127.0.0.1", "::1", "localhost"):
        return "localhost"
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname() or host
    return f"[{host}]" if ":" in host else host


def serve(
    model: ServeModel,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the viewer until interrupted (blocking).

    Parameters
    ----------
    model
        Plans on the case.
    host
        Address to listen on (``0.0.0.0``: every network interface of the machine).
    port
        TCP port (0: any free port).
    token
        Access token every request must bring (``?token=`` once, then a cookie); ``None``: no token.
    on_ready
        Called with the page's URL once the server listens.
    """
    os.environ["TRAME_ARGS"] = "--server"  # trame parses no command-line arguments of hbiview's
    app = ViewerApp(model)
    server = app.server
    if token is not None:
        from hbiview.serve.security import token_middleware

        middleware = token_middleware(token)

        def bind(wslink_server: Any) -> None:
            wslink_server.app.middlewares.append(middleware)

        server.controller.on_server_bind.add(bind)

    def ready(**_: Any) -> None:
        shown = _shown_host(host)
        url = f"http://{shown}:{server.port}/index.html" + (f"?token={token}" if token else "")
        if on_ready is not None:
            on_ready(url)

    server.controller.on_server_ready.add(ready)
    try:
        server.start(
            host=host, port=int(port), open_browser=False, show_connection_info=False, disable_logging=True,
            timeout=0,
        )  # fmt: skip
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        sys.stdout.flush()
