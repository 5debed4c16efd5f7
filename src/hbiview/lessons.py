"""Teaching lessons: the registry of the scripts in ``examples/`` and the little they share.

Each lesson is a script ``examples/NN_name.py`` in the source checkout that answers one question a resident
asks about hemi-body irradiation, with figures and a short text summary written into an output folder. A
script defines ``main(out_dir, *, quick=False, case=None) -> dict`` (the key numbers) and ends with
``raise SystemExit(lesson_cli(main, NN))``, so it runs as ``python examples/NN_name.py [--out DIR]`` and
from ``hbiview lessons run NN``.

>>> from hbiview.lessons import LESSONS, run_lesson          # doctest: +SKIP
>>> [lesson.name for lesson in LESSONS]                       # doctest: +SKIP
>>> numbers = run_lesson(2, "lesson_output/02")               # doctest: +SKIP

The scripts travel with the package (``hbiview/examples`` in a wheel; students are meant to read, copy and
change them) and are also found in ``examples/`` of the checkout the package runs from, in ``./examples``,
or in the folder named by ``$HBIVIEW_EXAMPLES``.

This module imports only the standard library at import time; matplotlib is loaded by the helpers that
draw.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from hbiview.errors import InputError, MissingInputError
from hbiview.io.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "EXAMPLES_ENV",
    "LESSONS",
    "Lesson",
    "default_out_dir",
    "find_examples_dir",
    "get_lesson",
    "lecture_style",
    "lesson_cli",
    "load_lesson",
    "run_lesson",
    "save_figure",
    "write_summary",
]

#: Environment variable naming the folder of lesson scripts (when not running from a checkout).
EXAMPLES_ENV = "HBIVIEW_EXAMPLES"


@dataclass(frozen=True)
class Lesson:
    """One teaching lesson.

    Attributes
    ----------
    number
        1, 2, ...
    name
        Short name, e.g. ``"field_sizes"``; the script is ``examples/NN_name.py``.
    title
        Title shown in listings.
    question
        The question a resident asks, which the lesson answers.
    """

    number: int
    name: str
    title: str
    question: str

    @property
    def script(self) -> str:
        """File name of the script, e.g. ``"01_field_sizes.py"``."""
        return f"{self.number:02d}_{self.name}.py"


LESSONS: tuple[Lesson, ...] = (
    Lesson(
        1,
        "field_sizes",
        "Field sizes",
        "What do upper, mid and lower hemi-body fields and a localized spine field cover: "
        "how much lung and how much active marrow?",
    ),
    Lesson(
        2,
        "lung_correction",
        "Lung correction",
        "How much more dose does lung get than an uncorrected (water) calculation says, and what does that "
        "mean for pneumonitis at 6, 7 and 8 Gy?",
    ),
    Lesson(
        3,
        "marrow_sparing",
        "Marrow sparing",
        "Why are upper and lower hemi-body irradiation given 4-6 weeks apart rather than together?",
    ),
    Lesson(
        4,
        "fractionation",
        "Fractionation",
        "Is 8 Gy x 1 on a spine metastasis less than 20 Gy x 5 or 30 Gy x 10, for the spinal cord and for "
        "marrow?",
    ),
    Lesson(
        5,
        "beam_energy",
        "Beam energy and patient thickness",
        "Co-60, 6 MV or 18 MV for AP/PA hemi-body fields: how uniform is the dose in a thin and a thick "
        "patient?",
    ),
    Lesson(
        6,
        "field_borders",
        "Field border placement",
        "Where should the border between upper and lower hemi-body fields go, and what happens at the "
        "junction?",
    ),
    Lesson(
        7,
        "radionuclides",
        "Radionuclides instead of hemi-body irradiation",
        "Why did strontium-89 and samarium-153 take the place of upper and lower hemi-body irradiation: "
        "what does each do to the active marrow, the lungs and the bone surfaces?",
    ),
)


def get_lesson(key: int | str) -> Lesson:
    """A lesson by number (``2``, ``"2"``, ``"02"``) or name (``"lung_correction"``).

    Raises
    ------
    InputError
        For an unknown lesson, listing the known ones.
    """
    text = str(key).strip()
    for lesson in LESSONS:
        if text.isdigit() and int(text) == lesson.number:
            return lesson
        if text in (lesson.name, lesson.script, lesson.script.removesuffix(".py")):
            return lesson
    known = ", ".join(f"{lesson.number} ({lesson.name})" for lesson in LESSONS)
    raise InputError(f"unknown lesson {key!r}; the lessons are {known} (see 'hbiview lessons')")


def find_examples_dir() -> Path | None:
    """The folder holding the lesson scripts, or ``None`` when it cannot be found.

    Looked for in this order: ``$HBIVIEW_EXAMPLES``, the copy installed inside the package
    (``hbiview/examples``, from a wheel), ``examples/`` at the root of the source checkout the package runs
    from (an editable or development install), ``./examples``.

    Raises
    ------
    MissingInputError
        If ``$HBIVIEW_EXAMPLES`` is set but holds no lesson script (a typo should not fall back silently).
    """
    first = LESSONS[0].script
    env = os.environ.get(EXAMPLES_ENV)
    if env:
        path = Path(env)
        if not (path / first).is_file():
            raise MissingInputError(
                f"{path}: ${EXAMPLES_ENV} names no folder with the lesson scripts ({first})"
            )
        return path
    installed = Path(__file__).resolve().parent / "examples"
    checkout = Path(__file__).resolve().parents[2] / "examples"  # src/hbiview/lessons.py -> repository root
    for candidate in (installed, checkout, Path("examples")):
        if (candidate / first).is_file():
            return candidate
    return None


def _script_path(lesson: Lesson) -> Path:
    folder = find_examples_dir()
    if folder is None:
        raise MissingInputError(
            f"the lesson scripts (examples/{lesson.script} ...) are neither installed with the package nor "
            f"in ./examples: reinstall hbiview, or set ${EXAMPLES_ENV} to the examples/ folder of a checkout"
        )
    path = folder / lesson.script
    if not path.is_file():
        raise MissingInputError(f"{path}: lesson script not found in {folder}")
    return path


def load_lesson(key: int | str) -> ModuleType:
    """Import a lesson script as a module (its ``main`` is then callable).

    Raises
    ------
    MissingInputError
        When the scripts cannot be found (see :func:`find_examples_dir`).
    """
    lesson = get_lesson(key)
    path = _script_path(lesson)
    module_name = f"hbiview_lesson_{lesson.number:02d}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise MissingInputError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def default_out_dir(number: int) -> Path:
    """``lesson_output/NN`` in the current directory."""
    return Path("lesson_output") / f"{number:02d}"


def run_lesson(
    key: int | str, out_dir: str | os.PathLike[str] | None = None, *, quick: bool = False, case: Any = None
) -> dict[str, Any]:
    """Run one lesson into ``out_dir`` (default ``lesson_output/NN``) and return its key numbers.

    Parameters
    ----------
    key
        Lesson number or name.
    out_dir
        Folder for the figures and ``summary.md`` (created; files in it are replaced).
    quick
        Coarser dose grids and smaller pictures (for tests); the lesson says so in its summary.
    case
        A :class:`hbiview.pipeline.Case` of the sample patient to reuse (segmentation done once).
    """
    lesson = get_lesson(key)
    module = load_lesson(lesson.number)
    out = Path(out_dir) if out_dir is not None else default_out_dir(lesson.number)
    return dict(module.main(out, quick=quick, case=case))


# ----------------------------------------------------------------------------------- shared by the scripts
def lesson_cli(main: Callable[..., Mapping[str, Any]], number: int, argv: Sequence[str] | None = None) -> int:
    """The command line of a lesson script: ``--out DIR`` and ``--quick``; returns the exit code.

    Bad input (an :class:`~hbiview.errors.HbiviewError`) is printed as one line and gives exit code 2.
    """
    from hbiview.errors import HbiviewError

    lesson = get_lesson(number)
    parser = argparse.ArgumentParser(
        prog=f"python examples/{lesson.script}",
        description=f"Lesson {lesson.number}: {lesson.title}. {lesson.question}",
    )
    parser.add_argument(
        "--out", default=str(default_out_dir(number)), help="output folder (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="coarser dose grid and smaller pictures")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        main(Path(args.out), quick=args.quick)
    except HbiviewError as exc:
        print(f"lesson {number}: error: {exc}", file=sys.stderr)
        return 2
    print(f"lesson {number} ({lesson.title}) written to {args.out}/ in {time.perf_counter() - start:.0f} s")
    return 0


#: matplotlib settings for pictures projected in a lecture hall (large, bold enough, dark-on-white)
_LECTURE_RC: dict[RcKeyType, Any] = {
    "font.size": 17,
    "axes.titlesize": 19,
    "axes.labelsize": 18,
    "xtick.labelsize": 16,
    "ytick.labelsize": 16,
    "legend.fontsize": 15,
    "figure.titlesize": 23,
    "figure.titleweight": "bold",
    "axes.titleweight": "bold",
    "lines.linewidth": 3.0,
    "axes.linewidth": 1.4,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "savefig.dpi": 100,
}


@contextmanager
def lecture_style() -> Iterator[None]:
    """Matplotlib settings for lecture-hall figures inside the block (Agg backend, large fonts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(_LECTURE_RC):
        yield


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: float = 100) -> Path:
    """Write a matplotlib figure as PNG atomically (replacing an older one) and close it."""
    import matplotlib.pyplot as plt

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(target, force=True) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", facecolor=fig.get_facecolor())
    finally:
        plt.close(fig)
    _readable(target)
    return target


def write_summary(path: str | os.PathLike[str], text: str) -> Path:
    """Write a lesson's Markdown summary atomically (replacing an older one)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target, force=True) as tmp:
        tmp.write_text(text.rstrip() + "\n", encoding="utf-8")
    _readable(target)
    return target


def _readable(path: Path) -> None:
    """Give a written file the usual permissions (the temporary file of atomic_path is private, 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)
