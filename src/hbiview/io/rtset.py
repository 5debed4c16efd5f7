"""One DICOM-RT set: CT (or a note naming it), RT Structure Set, RT Plan and RT Dose per plan, and their sum.

Every object carries the CT's patient, StudyInstanceUID and FrameOfReferenceUID
(:mod:`hbiview.io.dicom_modules`); each RT Dose references its RT Plan (the sum references all of them,
DoseSummationType MULTI_PLAN) and, when DVHs are given, the structure set whose ROI numbers its
DVHSequence uses; each RT Plan references the structure set. Dose grids are written whole: the grid the
dose was computed on covers the body, and the dose outside the fields is kept (not cropped), so every
structure of the set lies inside every dose grid.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hbiview.errors import InputError
from hbiview.io.atomic import atomic_folder, check_folder_writable
from hbiview.io.dicom_modules import ct_identity, derived_uid
from hbiview.io.rtplan import MU_NOTE
from hbiview.volume import CTVolume, DoseGrid, Structure

__all__ = ["RTCourse", "write_rt_files", "write_rt_set"]


@dataclass(frozen=True, eq=False)
class RTCourse:
    """One RT Dose of a set: a plan's dose, or the sum of several plans' doses.

    Parameters
    ----------
    key
        File name part: ``rtplan_<key>.dcm``, ``rtdose_<key>.dcm``.
    dose
        Total dose of the course (Gy).
    plan
        The resolved plan (beams with their isocentres); ``None`` for a sum.
    prescription_point_lps_mm, beam_doses_gy
        Where the prescription applies and each beam's dose per fraction there (written in the RT Plan).
    dvhs
        Structure name -> DVH on ``dose``, written in the RT Dose (DVHSequence) for structures of the set.
    parts
        For a sum: the keys of the courses summed (their RT Plans are referenced).
    label
        Human name (README, SeriesDescription); default ``key``.
    """

    key: str
    dose: DoseGrid
    plan: Any = None
    prescription_point_lps_mm: np.ndarray | None = None
    beam_doses_gy: tuple[float, ...] | None = None
    dvhs: Mapping[str, Any] | None = None
    parts: tuple[str, ...] = ()
    label: str = ""

    @classmethod
    def of_run(cls, key: str, run: Any, *, dvhs: bool = True) -> RTCourse:
        """The course of one computed plan (a :class:`hbiview.pipeline.PlanRun`: its plan, dose and DVHs).

        Parameters
        ----------
        key
            File name part (see :class:`RTCourse`).
        run
            The computed plan: ``plan``, ``dose``, ``dose_result`` (prescription point and beam doses),
            ``dvhs`` and ``label``.
        dvhs
            Write the run's DVHs in the RT Dose.
        """
        result = run.dose_result
        return cls(
            key,
            run.dose,
            plan=run.plan,
            prescription_point_lps_mm=result.prescription_point_lps_mm,
            beam_doses_gy=result.beam_doses_gy,
            dvhs=run.dvhs if dvhs else None,
            label=run.label,
        )


def _safe_key(key: str) -> str:
    text = "".join(c if c.isalnum() or c in "-_." else "-" for c in key).strip("-.")
    if not text:
        raise InputError(f"course key {key!r} gives an empty file name")
    return text


def write_rt_files(
    folder: str | os.PathLike[str],
    ct: CTVolume,
    structures: Sequence[Structure],
    courses: Sequence[RTCourse],
    *,
    ct_note: str | None = None,
) -> dict[str, str]:
    """Write the RT objects of a set into an existing folder (no staging; see :func:`write_rt_set`).

    Parameters
    ----------
    folder
        The folder (must exist).
    ct
        The CT all objects refer to. Its series must exist as files with the UIDs of
        :func:`hbiview.io.dicom_modules.ct_identity` (read from DICOM, or written with the set).
    structures
        Written as ``rtstruct.dcm``; ROI numbers 1, 2, ... in this order.
    courses
        The plans and sums; file names ``rtplan_<key>.dcm``, ``rtdose_<key>.dcm``.
    ct_note
        When given, written as ``CT.txt`` (where the CT series is and which UIDs the files reference).

    Returns
    -------
    dict
        File name -> what it holds.
    """
    from hbiview.io.rtdose import write_rtdose
    from hbiview.io.rtplan import write_rtplan
    from hbiview.io.rtstruct_write import write_rtstruct

    out = Path(folder)
    keys = [_safe_key(c.key) for c in courses]
    if len(set(keys)) != len(keys):
        raise InputError(f"two RT Doses of the set would have the same name: {keys}")
    files: dict[str, str] = {}
    identity = ct_identity(ct)
    seed = derived_uid("set", identity.study_uid, *keys, os.getpid(), tempfile.gettempprefix())
    struct_uid = derived_uid("rtstruct", seed)
    items = list(structures)
    write_rtstruct(items, ct, out / "rtstruct.dcm", sop_uid=struct_uid)
    files["rtstruct.dcm"] = f"RT Structure Set: {', '.join(s.name for s in items)} (ROI 1 to {len(items)})"
    numbers = {s.name: k for k, s in enumerate(items, start=1)}
    plan_uids: dict[str, str] = {}
    for key, course in zip(keys, courses, strict=True):
        if course.plan is None:
            continue
        plan_uids[course.key] = derived_uid("rtplan", seed, key)
        name = f"rtplan_{key}.dcm"
        write_rtplan(
            course.plan,
            out / name,
            ct=ct,
            prescription_point_lps_mm=course.prescription_point_lps_mm,
            beam_doses_gy=course.beam_doses_gy,
            structure_set_uid=struct_uid,
            sop_uid=plan_uids[course.key],
        )
        files[name] = f"RT Plan of {course.label or key}: beams, prescription, fractions (no monitor units)"
    for key, course in zip(keys, courses, strict=True):
        if course.plan is not None:
            references: list[str] = [plan_uids[course.key]]
        else:
            missing = [p for p in course.parts if p not in plan_uids]
            if not course.parts or missing:
                raise InputError(f"the sum {course.key!r} names courses that are not in the set: {missing}")
            references = [plan_uids[p] for p in course.parts]
        dvhs = None
        if course.dvhs:
            dvhs = {numbers[n]: h for n, h in course.dvhs.items() if n in numbers}
        name = f"rtdose_{key}.dcm"
        write_rtdose(
            course.dose,
            out / name,
            ct=ct,
            description=course.dose.description or course.label or key,
            plan_uid=references,
            dvhs=dvhs or None,
            structure_set_uid=struct_uid if dvhs else None,
            sop_uid=derived_uid("rtdose", seed, key),
        )
        what = "sum of " + " + ".join(course.parts) if course.plan is None else (course.label or key)
        files[name] = f"RT Dose of {what}, total Gy, whole grid (dose outside the fields kept)" + (
            ", with DVHs" if dvhs else ""
        )
    if ct_note:
        (out / "CT.txt").write_text(ct_note, encoding="utf-8")
        files["CT.txt"] = "where the CT series of this set is and the UIDs the files reference"
    return files


def ct_reference_note(ct: CTVolume) -> str:
    """The text of ``CT.txt``: the CT series the set refers to, not copied into it."""
    identity = ct_identity(ct)
    meta = ct.metadata
    return "\n".join(
        [
            "The CT of this DICOM-RT set is not copied here. Load it with these files:",
            f"  folder:             {meta.get('source_path', '(unknown)')}",
            f"  SeriesInstanceUID:  {identity.series_uid}",
            f"  StudyInstanceUID:   {identity.study_uid}",
            f"  FrameOfReferenceUID {identity.frame_uid}",
            f"  slices:             {len(identity.sop_uids)} (the RT Structure Set references each one)",
            "",
        ]
    )


def readme_text(files: Mapping[str, str], title: str) -> str:
    """The set's README: its files and what the RT Plans leave out."""
    width = max(len(n) for n in files)
    lines = [
        title,
        "=" * len(title),
        "",
        "One DICOM-RT set: every file has the CT's patient, study and frame of reference.",
        "",
        "Files:",
        *(f"  {name:<{width}}  {text}" for name, text in sorted(files.items())),
        "",
        "RT Plans: " + MU_NOTE,
        "",
        "Audit the doses with their structures, e.g.",
        "  hbiview dvh --rtdose "
        + next((n for n in sorted(files) if n.startswith("rtdose_")), "RD.dcm")
        + " --rtstruct rtstruct.dcm",
        "",
    ]
    return "\n".join(lines)


def write_rt_set(
    folder: str | os.PathLike[str],
    ct: CTVolume,
    structures: Sequence[Structure],
    courses: Sequence[RTCourse],
    *,
    write_ct: bool | None = None,
    force: bool = False,
    title: str = "hbiview DICOM-RT set",
) -> tuple[CTVolume, dict[str, str]]:
    """Write a whole DICOM-RT set into a new folder, atomically (staged beside it, renamed when complete).

    Parameters
    ----------
    folder
        The output folder: new or empty, or replaced with ``force``.
    ct, structures, courses
        See :func:`write_rt_files`.
    write_ct
        Write the CT series into ``ct/`` (``True``), or only a ``CT.txt`` naming it (``False``). Default:
        write it when its UIDs do not all come from DICOM files (a CT read from NIfTI, or a series
        resampled across a gap), note it otherwise.
    force
        Replace the folder's contents.
    title
        First line of ``README.txt``.

    Returns
    -------
    ct, files
        The CT the files refer to (read back from ``ct/`` when written) and file name -> what it holds.
    """
    from hbiview.io.dicom import read_ct
    from hbiview.io.dicom import write_ct as write_ct_series

    target = check_folder_writable(folder, force)
    if write_ct is None:
        write_ct = not ct_identity(ct).from_files
    with atomic_folder(target, force) as staging:
        note = None
        if write_ct:
            write_ct_series(ct, staging / "ct", transfer_syntax="explicit", workers=1)
            ct = read_ct(staging / "ct")
        else:
            note = ct_reference_note(ct)
        files = write_rt_files(staging, ct, structures, courses, ct_note=note)
        if write_ct:
            files["ct/"] = "the CT series the RT files refer to (DICOM, one file per slice)"
        (staging / "README.txt").write_text(readme_text(files, title), encoding="utf-8")
        files["README.txt"] = "this list"
    return ct, files
