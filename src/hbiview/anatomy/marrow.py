"""Active-marrow weights: each site's share of the adult active marrow, spread over its marrow voxels.

The shares come from ``hbiview/data/red_marrow.csv`` (Cristy 1981 / ICRP 89, verified on the ICRP 110
adult phantoms). A site that the scan cuts carries only the part of its share that lies inside the scan
(``coverage``); a site entirely outside the scan carries nothing and is reported as missing.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from hbiview.labels import MARROW_SITES

__all__ = ["MarrowWeights", "marrow_shares", "marrow_weights"]


@lru_cache(maxsize=1)
def marrow_shares() -> dict[str, float]:
    """Fraction (0-1) of the adult active marrow held by each site of :data:`hbiview.labels.MARROW_SITES`.

    Returns
    -------
    dict
        Site -> fraction; the values sum to 1 (the published percentages, rounded to 0.1, add up to
        99.9, so each is divided by 99.9).
    """
    ref = resources.files("hbiview") / "data" / "red_marrow.csv"
    lines = ref.read_text(encoding="utf-8").splitlines()
    rows = list(csv.DictReader(line for line in lines if not line.lstrip().startswith("#")))
    shares = {r["site"]: float(r["percent_of_active_marrow"]) / 100.0 for r in rows}
    if set(shares) != set(MARROW_SITES):  # pragma: no cover - the packaged table is fixed
        raise RuntimeError("hbiview/data/red_marrow.csv does not list the sites of hbiview.labels")
    total = sum(shares.values())
    return {site: shares[site] / total for site in MARROW_SITES}


@dataclass(frozen=True, eq=False)
class MarrowWeights:
    """Per-voxel active-marrow weights and the per-site bookkeeping behind them.

    Parameters
    ----------
    weights
        float32 volume: each voxel's fraction of the body's active marrow (0 outside marrow).
    site_fractions
        Site -> fraction of the body's active marrow inside the scan.
    missing_sites
        Sites with no marrow voxel in the scan.
    missing_fraction
        Fraction of the body's active marrow not in the scan (1 minus the sum of ``weights``).
    """

    weights: np.ndarray
    site_fractions: dict[str, float]
    missing_sites: list[str]
    missing_fraction: float


def marrow_weights(site_labels: np.ndarray, coverage: Mapping[str, float] | None = None) -> MarrowWeights:
    """Spread each site's share of active marrow evenly over its marrow voxels.

    Parameters
    ----------
    site_labels
        Integer volume: 0 no marrow, ``i + 1`` marrow of ``MARROW_SITES[i]``.
    coverage
        Site -> fraction (0-1) of that site's marrow estimated to lie inside the scan (default 1 for
        every site with voxels). A site cut by the scan's edge carries ``share x coverage``.

    Returns
    -------
    MarrowWeights
        Weights summing to the fraction of active marrow inside the scan.
    """
    labels = np.asarray(site_labels)
    n_sites = len(MARROW_SITES)
    counts = np.bincount(labels.ravel(), minlength=n_sites + 1)[: n_sites + 1]
    shares = marrow_shares()
    per_voxel = np.zeros(n_sites + 1, dtype=np.float64)
    fractions: dict[str, float] = {}
    missing: list[str] = []
    for i, site in enumerate(MARROW_SITES):
        n = int(counts[i + 1])
        if n == 0:
            missing.append(site)
            fractions[site] = 0.0
            continue
        cov = 1.0 if coverage is None else float(np.clip(coverage.get(site, 1.0), 0.0, 1.0))
        fractions[site] = shares[site] * cov
        per_voxel[i + 1] = fractions[site] / n
    lut = np.zeros(256, dtype=np.float32)
    lut[: n_sites + 1] = per_voxel
    weights = np.take(lut, labels.astype(np.uint8, copy=False))
    missing_fraction = max(0.0, 1.0 - sum(fractions.values()))
    return MarrowWeights(weights, fractions, missing, missing_fraction)
