"""The viewer's session model: plans on one case, their field settings, doses and key numbers.

Nothing here knows about the web page: a :class:`ServeModel` takes :class:`FieldSettings` (what the
controls say) and answers with a :class:`Computed` (the :class:`~hbiview.pipeline.PlanRun` of
:func:`hbiview.pipeline.run_plan` and the :class:`KeyNumbers` shown beside it; the dose comes first, the
DVHs follow from another thread while the page draws the dose), so a test checks the page's numbers
against the dose engine without a browser:

>>> from hbiview.pipeline import load_case            # doctest: +SKIP
>>> model = ServeModel(load_case(), ["upper-hbi"], grid_mm=10.0)  # doctest: +SKIP
>>> moved = model.compute(model.default_settings("upper-hbi").with_(inferior="L4-L5"))  # doctest: +SKIP
>>> moved.numbers.mean_lung_dose_gy                     # doctest: +SKIP

Results are kept per settings (a small cache shared by every browser of the session), so a student who
asks for a field someone already computed gets it at once; computations run one at a time (the engine's
own caches on the case are not shared between threads).
"""

from __future__ import annotations

import itertools
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hbiview.errors import (
    HbiviewWarning,
    PlanError,
    PrescriptionPointWarning,
    SetupWarning,
    collected_warnings,
    warn,
)

if TYPE_CHECKING:  # pragma: no cover
    from hbiview.pipeline import Case, PlanDose, PlanRun
    from hbiview.plans import Plan
    from hbiview.volume import DoseGrid

__all__ = [
    "DVH_SHOWN",
    "HBI_PRESETS",
    "Computed",
    "DvhCurve",
    "FieldSettings",
    "KeyNumbers",
    "ServeModel",
    "border_choices",
]

#: Presets whose superior and inferior borders the page moves.
HBI_PRESETS = ("upper-hbi", "mid-hbi", "lower-hbi")

#: Structures whose DVHs the page draws (those that exist on the case).
DVH_SHOWN = ("Lungs", "Marrow", "Body")

#: Most computed plans kept in memory (a 5 mm plan on a whole-body CT is a few MB).
CACHE_SIZE = 24

_VERTEBRAE = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)]
_VERTEBRAE.append("S1")


def _messages(caught: Iterable[warnings.WarningMessage]) -> tuple[str, ...]:
    """The texts of hbiview's warnings among those caught, each once, in order."""
    return tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, HbiviewWarning)))


def _say(messages: Iterable[Warning | str]) -> None:
    """Issue again warnings caught from a preset (each with its own category)."""
    for message in messages:
        if isinstance(message, Warning):
            warnings.warn(message, stacklevel=3)
        else:
            warn(message, stacklevel=3)


def border_choices(landmarks: Mapping[str, Any]) -> list[str]:
    """Field borders a page offers on this patient, head to feet: landmarks, vertebrae and discs.

    Parameters
    ----------
    landmarks
        The case's landmarks (:attr:`hbiview.pipeline.Case.plan_landmarks`): name -> z (mm) or landmark.

    Returns
    -------
    list of str
        Names :func:`hbiview.plans.border_z_mm` accepts (a z in mm is accepted too, typed as a number),
        sorted from the head down by their z on this patient.
    """
    from hbiview.plans import border_z_mm

    names = [str(k) for k in landmarks if str(k) not in _VERTEBRAE]
    names.append("mid_thigh")
    present = [v for v in _VERTEBRAE if v in landmarks]
    names += present
    names += [
        f"{a}-{b}" for a, b in itertools.pairwise(present) if _VERTEBRAE.index(b) == _VERTEBRAE.index(a) + 1
    ]
    placed = []
    for name in dict.fromkeys(names):
        try:
            placed.append((border_z_mm(name, landmarks)[0], name))
        except PlanError:  # a landmark this CT does not show (e.g. mid_thigh on a chest scan)
            continue
    return [name for _, name in sorted(placed, key=lambda item: -item[0])]


@dataclass(frozen=True)
class FieldSettings:
    """What the page's controls say about one plan (immutable: it is the cache key).

    Attributes
    ----------
    plan
        A preset name or a plan TOML file given on the command line (never a path from the browser).
    superior, inferior
        Hemi-body borders: a landmark, vertebra (``"L5"``), disc (``"L4-L5"``) or z in mm as text;
        ``None``: the preset's default.
    energy
        Beam energy (:data:`hbiview.plans.ENERGIES`); ``None``: the preset's.
    margin_mm
        Lateral margin of a hemi-body field beyond the body (mm): its width; ``None``: the preset's 20 mm.
    ssd_mm
        Source-skin distance of a hemi-body field (mm); ``None``: the preset's choice (the shortest that
        covers the borders).
    width_mm
        Width of a spine field (mm); ``None``: the preset's.
    level
        Vertebral level of a spine field; ``None``: the preset's.
    heterogeneity
        Lung (density) correction on or off.
    compensation
        ``"none"`` or ``"midplane"`` missing-tissue compensation.
    keep_setup
        Hemi-body borders moved by the jaws with the patient's set-up kept (that of the plan's starting
        borders with the other settings as they are: same SSD, couch and central axis;
        :func:`hbiview.plans.keep_setup.move_jaws`), as a department moves a border; when the jaws cannot
        reach, or with ``False``, the preset sets the patient up anew for the borders.
    """

    plan: str
    superior: str | None = None
    inferior: str | None = None
    energy: str | None = None
    margin_mm: float | None = None
    ssd_mm: float | None = None
    width_mm: float | None = None
    level: str | None = None
    heterogeneity: bool = True
    compensation: str = "none"
    keep_setup: bool = True

    def with_(self, **changes: Any) -> FieldSettings:
        """A copy with some settings changed (unknown names raise ``TypeError``)."""
        return replace(self, **changes)

    def preset_options(self) -> dict[str, Any]:
        """The preset options of :func:`hbiview.plans.preset` these settings stand for (defaults left out)."""
        options: dict[str, Any] = {}
        for name in ("superior", "inferior", "energy", "margin_mm", "ssd_mm", "width_mm", "level"):
            value = getattr(self, name)
            if value is not None and value != "":
                options[name] = value
        if self.compensation != "none":
            options["compensation"] = self.compensation
        return options

    def describe(self) -> str:
        """One line naming what differs from the preset's defaults (for legends and the history)."""
        parts = [f"{k}={v}" for k, v in self.preset_options().items()]
        if not self.heterogeneity:
            parts.append("no lung correction")
        if not self.keep_setup and (self.superior is not None or self.inferior is not None):
            parts.append("set up anew")
        return self.plan + (f" ({', '.join(parts)})" if parts else "")


@dataclass(frozen=True)
class DvhCurve:
    """One cumulative DVH as drawn: dose (Gy) and percent of the structure (or of the active marrow)."""

    structure: str
    dose_gy: np.ndarray
    percent: np.ndarray
    weighted: bool = False


@dataclass(frozen=True)
class KeyNumbers:
    """The numbers the page shows after each change.

    Attributes
    ----------
    mean_lung_dose_gy
        Mean dose to both lungs (Gy, total course), or ``None`` without lungs.
    pneumonitis
        Where it stands against Van Dyk's single-fraction pneumonitis figures (one sentence), as reports
        say it (:func:`hbiview.radiobiology.assess_lung_dose`).
    pneumonitis_category
        ``"below_onset"``, ``"between_onset_and_5_percent"``, ``"at_or_above_5_percent"`` or
        ``"not_applicable"``; ``""`` without lungs.
    marrow_in_field_pct
        Share of the body's active marrow in the field (at least 50 % of the prescription), percent.
    hot_spot_gy
        Hot spot: D0.03cc of the body (Gy).
    hot_spot_pct
        The hot spot in percent of the prescription.
    prescription_gy
        Prescribed total dose (Gy).
    fractions
        Number of fractions.
    dvhs
        The DVHs of :data:`DVH_SHOWN` (marrow weighted by active marrow when it can be).
    seconds
        Time the computation took (s); 0 for a result taken from the cache.
    """

    mean_lung_dose_gy: float | None
    pneumonitis: str
    pneumonitis_category: str
    marrow_in_field_pct: float | None
    hot_spot_gy: float
    hot_spot_pct: float
    prescription_gy: float
    fractions: int
    dvhs: tuple[DvhCurve, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """The numbers as short lines of text (page and terminal)."""
        out = []
        if self.mean_lung_dose_gy is not None:
            out.append(f"mean lung dose {self.mean_lung_dose_gy:.2f} Gy")
        if self.marrow_in_field_pct is not None:
            out.append(f"active marrow in the field {self.marrow_in_field_pct:.1f} %")
        out.append(
            f"hot spot {self.hot_spot_gy:.2f} Gy ({self.hot_spot_pct:.0f} % of {self.prescription_gy:g} Gy)"
        )
        return out


class Computed:
    """A plan computed for the page: its settings and dose, its run, key numbers and what hbiview warned.

    The dose is there at once; the DVHs (and with them the run, the key numbers and the warnings) are worked
    out in a thread of their own, so that the page draws the dose meanwhile: reading them waits for them.

    Parameters
    ----------
    settings
        What the controls said.
    dosed
        The plan's dose (:func:`hbiview.pipeline.dose_plan`).
    evaluated
        The run (:func:`hbiview.pipeline.evaluate_dose`), its key numbers and every warning, when ready.
    """

    def __init__(
        self,
        settings: FieldSettings,
        dosed: PlanDose,
        evaluated: Future[tuple[PlanRun, KeyNumbers, tuple[str, ...]]],
    ) -> None:
        self.settings = settings
        self.dosed = dosed
        self._evaluated = evaluated

    @property
    def dose(self) -> DoseGrid:
        """The plan's total dose (Gy)."""
        return self.dosed.dose

    @property
    def plan(self) -> Plan:
        """The plan as computed."""
        return self.dosed.plan

    @property
    def run(self) -> PlanRun:
        """The plan run: dose, DVHs and metrics (waits for the DVHs).

        The DVHs are those the page shows (:data:`DVH_SHOWN`), as :func:`hbiview.pipeline.run_plan` computes
        them.
        """
        return self._evaluated.result()[0]

    @property
    def numbers(self) -> KeyNumbers:
        """The key numbers shown beside the plan (waits for the DVHs)."""
        return self._evaluated.result()[1]

    @property
    def warnings(self) -> tuple[str, ...]:
        """What hbiview warned while planning, computing and evaluating (waits for the DVHs)."""
        return self._evaluated.result()[2]


def key_numbers(run: PlanRun, seconds: float = 0.0) -> KeyNumbers:
    """The key numbers of a computed plan, taken from its evaluation (the same as the reports')."""
    assessment = run.evaluation.lung_assessment
    marrow = None
    dvhs = run.dvhs
    if "Marrow" in dvhs and dvhs["Marrow"].weighted_fraction is not None:
        marrow = 100.0 * run.active_marrow_in_field()
    body = run.metrics("Body") if "Body" in dvhs else None
    hot = float(body["d0p03cc_gy"]) if body is not None else float(run.dose.max_gy)
    curves = []
    for name in DVH_SHOWN:
        h = dvhs.get(name)
        if h is None or h.is_empty:
            continue
        if name == "Marrow" and h.weighted_fraction is not None:
            share = float(h.weighted_fraction[0]) or 1.0
            curves.append(DvhCurve(name, h.dose_gy, 100.0 * h.weighted_fraction / share, weighted=True))
        else:
            curves.append(DvhCurve(name, h.dose_gy, h.volume_pct))
    rx = float(run.prescription_gy)
    return KeyNumbers(
        mean_lung_dose_gy=run.mean_lung_dose_gy,
        pneumonitis=assessment.text if assessment is not None else "",
        pneumonitis_category=assessment.category if assessment is not None else "",
        marrow_in_field_pct=marrow,
        hot_spot_gy=hot,
        hot_spot_pct=100.0 * hot / rx if rx > 0 else float("nan"),
        prescription_gy=rx,
        fractions=int(run.plan.fractions),
        dvhs=tuple(curves),
        seconds=seconds,
    )


class ServeModel:
    """Plans on one case, computed on demand and kept, for any number of browser sessions.

    Parameters
    ----------
    case
        The patient (segmented once; every plan shares its landmarks and structures).
    plans
        Preset names or plan TOML files (from the command line); the page switches between them.
    grid_mm
        Dose grid spacing (mm) of every computation.
    options
        Preset options per plan (as ``--set`` gives them), the plan's starting settings.

    Raises
    ------
    PlanError
        For an unknown preset, an invalid plan file or a bad option (placed once here, before the page).
    """

    def __init__(
        self,
        case: Case,
        plans: Sequence[str],
        *,
        grid_mm: float = 5.0,
        options: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if not plans:
            raise PlanError("give at least one plan (--plan upper-hbi)")
        if not grid_mm > 0:
            raise PlanError(f"grid_mm = {grid_mm!r}: the dose grid spacing must be positive")
        self.case = case
        self.plans = list(dict.fromkeys(str(p) for p in plans))
        self.grid_mm = float(grid_mm)
        given = list(options) if options is not None else [{} for _ in plans]
        self._defaults: dict[str, FieldSettings] = {}
        for name, opts in zip(plans, given, strict=True):
            settings = self._settings_from(str(name), dict(opts))
            with warnings.catch_warnings():  # said again, and shown on the page, when the plan is computed
                warnings.simplefilter("ignore", HbiviewWarning)
                case.plan(settings.plan, **settings.preset_options())  # raises PlanError for a bad plan
            self._defaults.setdefault(str(name), settings)
        self._lock = threading.Lock()
        self._cache: OrderedDict[FieldSettings, Computed] = OrderedDict()
        # the plans whose set-ups border changes keep, with the warnings their presets gave
        self._setups: dict[FieldSettings, tuple[Plan, tuple[Warning | str, ...]]] = {}

    @staticmethod
    def _settings_from(plan: str, options: dict[str, Any]) -> FieldSettings:
        names = {f.name for f in fields(FieldSettings)} - {"plan"}
        heterogeneity = bool(options.pop("heterogeneity", True))
        unknown = sorted(set(options) - names)
        if unknown:
            raise PlanError(
                f"plan {plan}: option {unknown[0]!r} cannot be changed in the viewer "
                f"(it changes {', '.join(sorted(names))})"
            )
        for key in ("superior", "inferior", "level", "energy"):
            if key in options and options[key] is not None:
                options[key] = str(options[key])
        return FieldSettings(plan, heterogeneity=heterogeneity, **options)

    # ---------------------------------------------------------------------------------------- what is there
    def is_preset(self, plan: str) -> bool:
        """Whether ``plan`` is a preset (its field settings can be changed) rather than a plan file."""
        from hbiview.plans import list_presets

        return plan in {name for name, _ in list_presets()}

    def default_settings(self, plan: str | None = None) -> FieldSettings:
        """The starting settings of a plan (the first one by default).

        Raises
        ------
        PlanError
            For a plan that was not given when the model was made.
        """
        name = self.plans[0] if plan is None else plan
        if name not in self._defaults:
            raise PlanError(f"plan {name!r} is not loaded; loaded: {', '.join(self.plans)}")
        return self._defaults[name]

    def borders(self) -> list[str]:
        """Border names offered on this patient (see :func:`border_choices`)."""
        return border_choices(self.case.plan_landmarks)

    def check(self, settings: FieldSettings) -> FieldSettings:
        """Refuse settings that name a plan not loaded (the browser never names files).

        Raises
        ------
        PlanError
            For such a plan, or options on a plan file.
        """
        if settings.plan not in self._defaults:
            raise PlanError(f"plan {settings.plan!r} is not loaded; loaded: {', '.join(self.plans)}")
        if not self.is_preset(settings.plan) and settings.preset_options():
            raise PlanError(f"{settings.plan} is a plan file: only lung correction can be changed")
        return settings

    # ------------------------------------------------------------------------------------------- computing
    def setup_settings(self, settings: FieldSettings) -> FieldSettings | None:
        """The settings whose patient set-up a border change keeps (``None``: the plan is set up anew).

        Those of the plan's starting borders with every other setting as in ``settings``, for hemi-body
        presets with ``keep_setup`` whose borders differ from the starting ones.
        """
        start = self.default_settings(settings.plan)
        if (
            not settings.keep_setup
            or settings.plan not in HBI_PRESETS
            or (settings.superior, settings.inferior) == (start.superior, start.inferior)
        ):
            return None
        return settings.with_(superior=start.superior, inferior=start.inferior)

    def plan_for(self, settings: FieldSettings) -> Plan:
        """The plan the page computes for ``settings`` (placed on the case; no dose).

        With a kept set-up (:meth:`setup_settings`) the preset's plan for the new borders is matched by
        moving the jaws of the starting set-up (:func:`hbiview.plans.keep_setup.move_jaws`); when they
        cannot reach, the preset's own plan (a new set-up), and a warning says so.

        The warnings issued are those of the plan returned. Moved jaws: the preset's warnings about the
        borders and the patient (:class:`~hbiview.errors.HbiviewWarning`), not those about the set-up it
        chose for them (:class:`~hbiview.errors.SetupWarning`: its SSD, jaws, primary collimator and
        prescription point), the kept set-up's :class:`~hbiview.errors.PrescriptionPointWarning` (the
        moved plan keeps its prescription point), and what the primary collimator cuts of the moved field
        (said by :func:`~hbiview.plans.keep_setup.move_jaws`). A new set-up: the preset's warnings, and
        that it is new.

        Raises
        ------
        PlanError
            For settings the preset refuses.
        """
        from hbiview.plans.keep_setup import move_jaws

        setup = self.setup_settings(settings)
        if setup is None:
            return self.case.plan(settings.plan, **settings.preset_options())
        with warnings.catch_warnings(record=True) as said:  # said again below, those of the plan used
            warnings.simplefilter("always", HbiviewWarning)
            wanted = self.case.plan(settings.plan, **settings.preset_options())
        kept = self._setups.get(setup)
        if kept is None:
            with warnings.catch_warnings(record=True) as kept_said:
                warnings.simplefilter("always", HbiviewWarning)
                plan = self.case.plan(setup.plan, **setup.preset_options())
            kept = self._setups[setup] = (plan, tuple(w.message for w in kept_said))
        moved = move_jaws(kept[0], wanted, self.case.ct)
        if moved is None:
            _say(w.message for w in said)
            warn(
                f"{settings.plan}: the jaws of the first set-up cannot reach these borders (or the "
                "prescription point would leave the field): the patient is set up anew for them"
            )
            return wanted
        _say(w.message for w in said if not issubclass(w.category, SetupWarning))
        _say(message for message in kept[1] if isinstance(message, PrescriptionPointWarning))
        return moved

    def cached(self, settings: FieldSettings) -> Computed | None:
        """The result for ``settings`` if it was computed already (no computation)."""
        with self._lock:
            hit = self._cache.get(settings)
            if hit is not None:
                self._cache.move_to_end(settings)
            return hit

    def compute(self, settings: FieldSettings) -> Computed:
        """The plan for ``settings``: from the cache, or :func:`hbiview.pipeline.run_plan` on the case.

        Raises
        ------
        PlanError
            For settings the preset refuses (a border the CT does not show, borders too close...).
        """
        self.check(settings)
        hit = self.cached(settings)
        if hit is not None:
            return hit
        from hbiview.pipeline import dose_plan

        with self._lock:
            hit = self._cache.get(settings)
            if hit is not None:
                return hit
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:  # shown on the page beside the plan
                warnings.simplefilter("always", HbiviewWarning)
                plan = self.plan_for(settings)
                dosed = dose_plan(self.case, plan, grid_mm=self.grid_mm, heterogeneity=settings.heterogeneity)
            said = _messages(caught)
            # the DVHs in a thread of their own (a viewer forked for a browser starts its own threads)
            evaluated: Future[tuple[PlanRun, KeyNumbers, tuple[str, ...]]] = Future()
            threading.Thread(
                target=self._evaluate, args=(dosed, said, start, evaluated), name="hbiview-dvhs", daemon=True
            ).start()
            result = Computed(settings, dosed, evaluated)
            self._cache[settings] = result
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return result

    def _evaluate(
        self,
        dosed: PlanDose,
        said: tuple[str, ...],
        start: float,
        evaluated: Future[tuple[PlanRun, KeyNumbers, tuple[str, ...]]],
    ) -> None:
        """The run of a computed dose, its key numbers and every warning, into ``evaluated``."""
        from hbiview.pipeline import evaluate_dose

        try:
            # one computation at a time; the DVHs' warnings collected in this thread (the process's warning
            # filters are not touched: the page may be drawing meanwhile)
            with self._lock, collected_warnings() as caught:
                shown = [name for name in DVH_SHOWN if name in self.case.structures]  # the page's DVHs
                run = evaluate_dose(self.case, dosed, structures=shown)
            said = tuple(dict.fromkeys((*said, *caught)))
            evaluated.set_result((run, key_numbers(run, time.perf_counter() - start), said))
        except BaseException as exc:  # raised again where the DVHs are read
            evaluated.set_exception(exc)
