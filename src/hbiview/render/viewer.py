"""The interactive window.

The 3D scene with slice sliders, an isodose-level slider, structure toggles, a plan switcher and a
screenshot key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hbiview.errors import InputError
from hbiview.render import beams as _beams
from hbiview.render._pv import has_display
from hbiview.render._pv import plotter as make_plotter
from hbiview.render.keys import KEYS, TOGGLES
from hbiview.render.scene import SceneOptions, add_scene, camera_for, prepare_anatomy, set_camera
from hbiview.render.style import PlanLike
from hbiview.volume import CTVolume, DoseGrid, Structure

__all__ = ["KEYS", "TOGGLES", "Viewer"]

_SLIDER_AXES = {"sagittal": 0, "coronal": 1, "axial": 2}


class Viewer:
    """An interactive PyVista window over one CT and one to four plans.

    Parameters
    ----------
    ct
        The CT.
    cases
        ``(plan, dose)`` pairs; the window shows one plan at a time (keys ``n``/``b`` switch).
    structures
        Structures (skin, lungs, skeleton/marrow by name).
    options
        Initial scene options; the three planes start at the centre of the first plan's fields.
    size
        Window size ``(width, height)`` px.
    off_screen
        Build the window in memory (tests, or saving pictures without a display).
    screenshot_dir
        Folder where the ``s`` key saves pictures.
    """

    def __init__(
        self,
        ct: CTVolume,
        cases: Sequence[tuple[PlanLike, DoseGrid | None]],
        structures: Iterable[Structure] | Mapping[str, Structure] | None = None,
        options: SceneOptions | None = None,
        size: Sequence[int] = (1400, 900),
        off_screen: bool = False,
        screenshot_dir: str | os.PathLike[str] = ".",
    ) -> None:
        if not cases:
            raise InputError("the viewer needs at least one plan")
        if not off_screen and not has_display():
            raise InputError(
                "no display for an interactive window (DISPLAY is not set): run it on a desktop, under "
                "xvfb-run, or use 'hbiview render ... --html page.html' for an interactive page instead"
            )
        self.ct = ct
        self.cases = list(cases)
        self.index = 0
        self.screenshot_dir = Path(screenshot_dir)
        self.screenshots: list[Path] = []
        base = options or SceneOptions()
        lower, upper = ct.geometry.bounds_mm()
        centre = _beams.field_centre(self.cases[0][0].beam_outlines(), lower, upper)
        start = np.clip(centre if centre is not None else (lower + upper) / 2, lower, upper)
        xyz = base.plane_position_mm or start
        self.options = replace(
            base,
            planes=("axial", "coronal", "sagittal") if base.planes == SceneOptions().planes else base.planes,
            plane_position_mm=(float(xyz[0]), float(xyz[1]), float(xyz[2])),
        )
        self.extra_isodose_pct: float | None = None
        self.visible = dict.fromkeys(TOGGLES, True)
        self.anatomy = prepare_anatomy(structures, bone=self.options.bone)
        self.size = (int(size[0]), int(size[1]))
        self.plotter = make_plotter(off_screen=off_screen, window_size=self.size, title="hbiview")
        self.groups: dict[str, list[Any]] = {}
        self._scene_actors: list[Any] = []
        self._sliders: dict[str, Any] = {}
        self._checkboxes: dict[str, Any] = {}
        self._first = True
        self._ready = False  # PyVista calls slider callbacks once while creating them: ignore those
        self._build()
        self._add_widgets(lower, upper)
        self._add_keys()
        self._ready = True

    # ------------------------------------------------------------------------------------------ scene
    @property
    def plan(self) -> PlanLike:
        """The plan shown now."""
        return self.cases[self.index][0]

    def _build(self) -> None:
        """(Re)build the scene of the current plan, keeping the camera after the first time."""
        plotter = self.plotter
        camera = None if self._first else plotter.camera.copy()
        # remove only what the previous build added: the widgets' representations must stay
        plotter.remove_actor(list(self._scene_actors), render=False)
        for title in list(plotter.scalar_bars.keys()):
            plotter.remove_scalar_bar(title, render=False)
        plotter.remove_legend(render=False)
        before = set(plotter.renderer.actors)
        levels = tuple(self.options.isodose_pct)
        if self.extra_isodose_pct is not None and self.extra_isodose_pct not in levels:
            levels = (*levels, self.extra_isodose_pct)
        options = replace(self.options, isodose_pct=levels, show_orientation=self._first)
        plan, dose = self.cases[self.index]
        self.groups = add_scene(plotter, self.ct, self.anatomy, dose, plan, options)
        if len(self.cases) > 1:
            plotter.add_text(
                f"plan {self.index + 1} of {len(self.cases)}  (n: next, b: previous)",
                position=(12, self.size[1] - 60),
                font_size=10,
                color="white",
                name="plan counter",
            )
        for row, name in enumerate(TOGGLES):
            plotter.add_text(
                name, position=(52, 184 + 40 * row), font_size=11, color="white", name=f"label {name}"
            )
        self._scene_actors = [actor for name, actor in plotter.renderer.actors.items() if name not in before]
        if camera is not None:
            plotter.camera = camera
        self._first = False
        self._apply_visibility()

    def _apply_visibility(self) -> None:
        for name, actors in self.groups.items():
            group = "isodoses" if name.startswith("isodose") else name
            for actor in actors:
                actor.SetVisibility(self.visible.get(group, True))

    # ----------------------------------------------------------------------------------------- actions
    def set_plan(self, index: int) -> None:
        """Show plan number ``index`` (0-based, wraps around)."""
        self.index = int(index) % len(self.cases)
        self._build()

    def set_slice(self, view: str, position_mm: float) -> None:
        """Move the ``view`` plane (axial: z, coronal: y, sagittal: x) to ``position_mm`` (LPS)."""
        if view not in _SLIDER_AXES:
            raise InputError(f"unknown plane {view!r}: choose axial, coronal or sagittal")
        position = list(self.options.plane_position_mm or (0.0, 0.0, 0.0))
        position[_SLIDER_AXES[view]] = float(position_mm)
        self.options = replace(self.options, plane_position_mm=(position[0], position[1], position[2]))
        self._sync(view, position_mm)
        self._build()

    def set_isodose(self, pct: float) -> None:
        """Show one more isodose surface at ``pct`` percent of the prescription (replacing the last one)."""
        self.extra_isodose_pct = round(float(pct))
        self._sync("isodose", self.extra_isodose_pct)
        self._build()

    def toggle(self, group: str, visible: bool) -> None:
        """Show or hide a group (one of :data:`TOGGLES`)."""
        if group not in self.visible:
            raise InputError(f"unknown group {group!r}: choose one of {', '.join(TOGGLES)}")
        self.visible[group] = bool(visible)
        box = self._checkboxes.get(group)
        if box is not None and bool(box.GetRepresentation().GetState()) != bool(visible):
            box.GetRepresentation().SetState(int(bool(visible)))
        self._apply_visibility()

    def _sync(self, slider: str, value: float) -> None:
        """Move a slider to a value set from code (key, test), without calling it back."""
        widget = self._sliders.get(slider)
        if widget is not None:
            widget.GetRepresentation().SetValue(float(value))

    def screenshot(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Save the window as PNG (default ``hbiview-view-NNN.png`` in ``screenshot_dir``)."""
        from hbiview.render.export import write_png

        if path is None:
            number = 1
            while (self.screenshot_dir / f"hbiview-view-{number:03d}.png").exists():
                number += 1
            path = self.screenshot_dir / f"hbiview-view-{number:03d}.png"
        self.plotter.render()
        image = np.asarray(self.plotter.screenshot(return_img=True))[..., :3].copy()
        written = write_png(image, path, force=True)
        self.screenshots.append(written)
        return written

    def reset_camera(self) -> None:
        """Back to the plan's default camera."""
        from hbiview.render.scene import _frame_bounds

        set_camera(
            self.plotter,
            camera_for(self.options.camera, self.plan),
            _frame_bounds(self.anatomy, self.plan, self.ct, self.options.frame),
        )

    # ----------------------------------------------------------------------------------------- widgets
    def _add_widgets(self, lower: np.ndarray, upper: np.ndarray) -> None:
        plotter = self.plotter
        style = {"color": "white", "title_height": 0.02, "slider_width": 0.015, "tube_width": 0.004}
        position = self.options.plane_position_mm or (0.0, 0.0, 0.0)
        for row, (view, axis) in enumerate((("axial", 2), ("coronal", 1), ("sagittal", 0))):
            y = 0.92 - 0.11 * row
            self._sliders[view] = plotter.add_slider_widget(
                lambda value, view=view: self.set_slice(view, value) if self._ready else None,
                (float(lower[axis]), float(upper[axis])),
                value=float(position[axis]),
                title=f"{view} ({'xyz'[axis]} mm)",
                pointa=(0.56, y),
                pointb=(0.80, y),
                fmt="%.0f",
                interaction_event="end",
                **style,
            )
        self._sliders["isodose"] = plotter.add_slider_widget(
            lambda value: self.set_isodose(value) if self._ready else None,
            (10.0, 120.0),
            value=70.0,
            title="extra isodose (% of prescription)",
            pointa=(0.56, 0.59),
            pointb=(0.80, 0.59),
            fmt="%.0f",
            interaction_event="end",
            **style,
        )
        for row, name in enumerate(TOGGLES):
            self._checkboxes[name] = plotter.add_checkbox_button_widget(
                lambda state, name=name: self.toggle(name, state),
                value=True,
                position=(10, 180 + 40 * row),
                size=30,
                border_size=2,
                color_on=(0.95, 0.80, 0.30),
                color_off=(0.30, 0.30, 0.30),
            )

    def _add_keys(self) -> None:
        plotter = self.plotter
        plotter.add_key_event("s", lambda: self.screenshot())
        plotter.add_key_event("n", lambda: self.set_plan(self.index + 1))
        plotter.add_key_event("b", lambda: self.set_plan(self.index - 1))
        plotter.add_key_event("r", self.reset_camera)

    def show(self) -> None:
        """Open the window and wait until it is closed."""
        self.plotter.show()

    def close(self) -> None:
        """Release the window."""
        self.plotter.close()
