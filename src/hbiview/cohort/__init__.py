"""Cohorts: the same plans over many CTs, one row per patient and plan, on one machine or a Dask cluster.

>>> from hbiview.cohort import cohort_inputs, run_cohort, read_table   # doctest: +SKIP
>>> patients = cohort_inputs(["ct/p001", "ct/p002"])                     # doctest: +SKIP
>>> run = run_cohort(patients, ["upper-hbi", "lower-hbi"], "cohort.parquet", workers=2)  # doctest: +SKIP
>>> rows = read_table("cohort.parquet")                                   # doctest: +SKIP

Dask (``dask[distributed]``) and pyarrow come with ``pip install "hbiview[cohort]"``; they are imported
only when a cohort runs or a Parquet table is read or written.
"""

from hbiview.cohort.evaluate import CohortInput, cohort_inputs, evaluate_patient
from hbiview.cohort.run import CohortRun, run_cohort
from hbiview.cohort.table import COLUMNS, read_table, write_table

__all__ = [
    "COLUMNS",
    "CohortInput",
    "CohortRun",
    "cohort_inputs",
    "evaluate_patient",
    "read_table",
    "run_cohort",
    "write_table",
]
