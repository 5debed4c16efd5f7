"""Run plans over a cohort on Dask distributed: a local cluster by default, or an existing one.

Each patient is one task (:func:`hbiview.cohort.evaluate.evaluate_patient`): its CT is read, segmented
once, and every plan is computed on it. Tasks run in separate worker processes with a memory limit each
(a patient that exceeds it is recorded as failed, and its worker restarted). The table is rewritten
atomically after every patient, so a run that is stopped loses nothing, and a rerun skips the patients
whose every plan is already in the table with status "ok" (it retries the failed ones).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbiview.cohort.evaluate import CohortInput, evaluate_patient
from hbiview.cohort.table import read_table, write_table
from hbiview.errors import InputError

__all__ = ["CohortRun", "run_cohort"]

#: Memory a local worker may use before Dask restarts it (GB): a whole-body CT at 512 x 512 x 400 peaks at
#: about 2 GB in the segmentation (benchmarks/bench_segment.py), the dose engine below 1 GB.
DEFAULT_MEMORY_PER_WORKER_GB = 4.0


@dataclass(frozen=True)
class CohortRun:
    """What a cohort run did.

    Parameters
    ----------
    rows
        The whole table (earlier rows kept when resuming), one row per patient and plan.
    computed
        Patients computed in this run.
    skipped
        Patients already complete in the table (resumed runs).
    failed
        Patients with at least one row whose status is "error".
    seconds
        Wall time of this run (s).
    """

    rows: tuple[dict[str, Any], ...]
    computed: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[str, ...]
    seconds: float


def _complete(rows: Sequence[Mapping[str, Any]], plans: Sequence[str]) -> set[str]:
    """Patients whose every plan has a row with status 'ok'."""
    ok: dict[str, set[str]] = {}
    for row in rows:
        if row.get("status") == "ok":
            ok.setdefault(str(row["patient"]), set()).add(str(row["plan"]))
    return {patient for patient, done in ok.items() if set(plans) <= done}


def _error_rows(item: CohortInput, plans: Sequence[str], message: str) -> list[dict[str, Any]]:
    return [
        {"patient": item.patient, "ct": item.ct, "plan": plan, "status": "error", "error": message}
        for plan in plans
    ]


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None, memory_gb: float) -> Iterator[Any]:
    """A Dask client of the given scheduler, or of a local cluster that is closed with it."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the cohort extra is not installed
        raise InputError(
            "hbiview batch runs on Dask distributed: "
            'pip install "hbiview[cohort]" (dask[distributed], pyarrow)'
        ) from exc
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise InputError(f"Dask scheduler {scheduler}: cannot connect ({exc})") from exc
        with client:
            yield client
        return
    n = workers or min(2, os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,  # the dose engine and the segmentation use numpy/scipy threads of their own
        processes=True,
        memory_limit=f"{memory_gb}GB",
        dashboard_address=None,
        # one patient per core: the numerical libraries' own thread pools would only oversubscribe the cores
        env={name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    )
    with cluster, Client(cluster) as client:
        yield client


def run_cohort(
    inputs: Sequence[CohortInput],
    plans: Sequence[str],
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_per_worker_gb: float = DEFAULT_MEMORY_PER_WORKER_GB,
    resume: bool = True,
    grid_mm: float | None = None,
    heterogeneity: bool | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    on_patient: Callable[[str, list[dict[str, Any]]], None] | None = None,
) -> CohortRun:
    """Run ``plans`` on every patient and write the table to ``out`` after each patient.

    Parameters
    ----------
    inputs
        The patients (:func:`hbiview.cohort.cohort_inputs`).
    plans
        Preset names or TOML plan files, run on every patient.
    out
        The table, ``*.parquet`` or ``*.csv``; rewritten atomically after each patient.
    workers
        Worker processes of the local cluster (default ``min(2, cores)``); ``0`` runs the patients one
        after the other in this process, without Dask.
    scheduler
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of a local cluster; the
        workers must have hbiview installed and see the CT paths.
    memory_per_worker_gb
        Memory limit of each local worker (GB).
    resume
        Keep the rows already in ``out`` and skip the patients whose every plan is there with status ok.
    grid_mm, heterogeneity, options
        Passed to :func:`~hbiview.cohort.evaluate.evaluate_patient`.
    on_patient
        Called with the patient label and its rows as each patient finishes (progress display).

    Returns
    -------
    CohortRun
    """
    if not plans:
        raise InputError("no plan given: name at least one with --plan")
    if workers is not None and workers < 0:
        raise InputError(f"--workers {workers}: give 0 (no Dask) or more")
    start = time.perf_counter()
    target = Path(out)
    earlier = read_table(target) if resume and target.exists() else []
    complete = _complete(earlier, plans)
    todo = [item for item in inputs if item.patient not in complete]
    skipped = tuple(item.patient for item in inputs if item.patient in complete)
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for row in earlier:
        by_patient.setdefault(str(row["patient"]), []).append(row)
    kwargs: dict[str, Any] = {"grid_mm": grid_mm, "heterogeneity": heterogeneity, "options": options}

    def record(item: CohortInput, rows: list[dict[str, Any]]) -> None:
        by_patient[item.patient] = rows
        write_table([row for rows_ in by_patient.values() for row in rows_], target)
        if on_patient is not None:
            on_patient(item.patient, rows)

    if todo and workers == 0:
        for item in todo:
            record(item, evaluate_patient(item, plans, **kwargs))
    elif todo:
        from dask.distributed import as_completed

        with _client(workers, scheduler, memory_per_worker_gb) as client:
            futures = {
                client.submit(
                    evaluate_patient, item, list(plans), key=f"hbiview-{i}-{item.patient}", **kwargs
                ): item
                for i, item in enumerate(todo)
            }
            for future in as_completed(futures):
                item = futures[future]
                try:
                    rows = future.result()
                except Exception as exc:  # the worker died (memory limit, crash): record it, go on
                    rows = _error_rows(item, plans, f"worker lost: {type(exc).__name__}: {exc}")
                record(item, rows)
    if not todo and not target.exists():
        write_table([], target)
    rows = tuple(row for rows_ in by_patient.values() for row in rows_)
    failed = tuple(sorted({str(r["patient"]) for r in rows if r.get("status") != "ok"}))
    return CohortRun(rows, tuple(item.patient for item in todo), skipped, failed, time.perf_counter() - start)


def _progress_printer(total: int, stream: Any = sys.stderr) -> Callable[[str, list[dict[str, Any]]], None]:
    """A progress line per finished patient: ``[3/20] patient-7: ok (41 s)``."""
    count = 0
    start = time.perf_counter()

    def show(patient: str, rows: list[dict[str, Any]]) -> None:
        nonlocal count
        count += 1
        errors = [r["error"] for r in rows if r.get("status") != "ok"]
        state = "ok" if not errors else f"failed: {errors[0]}"
        print(
            f"[{count}/{total}] {patient}: {state} ({time.perf_counter() - start:.0f} s elapsed)",
            file=stream,
            flush=True,
        )

    return show
