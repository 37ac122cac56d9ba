"""Area-weighted regional statistics of the climatological bias, and global-mean anomaly series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from example_diagnostic.data import BASELINE, Ensemble, Field, Grid


@dataclass(frozen=True, slots=True)
class Region:
    name: str  # the CV value of the ``region`` dimension
    long_name: str
    south: float
    north: float

    def mask(self, grid: Grid) -> NDArray[np.bool_]:
        lat, _ = grid.mesh()
        return (lat >= self.south) & (lat <= self.north)


# Cell centres of the 2.5° grid never sit on ±30°, so NHEX, SHEX and Tropics partition the globe.
REGIONS: tuple[Region, ...] = (
    Region("global", "Global", -90.0, 90.0),
    Region("NHEX", "Northern Hemisphere extratropics (30N-90N)", 30.0, 90.0),
    Region("SHEX", "Southern Hemisphere extratropics (90S-30S)", -90.0, -30.0),
    Region("Tropics", "Tropics (30S-30N)", -30.0, 30.0),
)
METRICS: dict[str, str] = {
    "bias": "Area-weighted mean bias of the 1980-2014 annual-mean surface air temperature climatology",
    "rmse": "Area-weighted root mean square error of the 1980-2014 annual-mean surface air temperature "
            "climatology",
}


def climatology(tas: Field) -> Field:
    """Time mean over all years: (year, lat, lon) -> (lat, lon)."""
    return np.asarray(tas.mean(axis=0), dtype=np.float64)


def weighted_mean(field: Field, weights: Field, mask: NDArray[np.bool_]) -> float:
    w = np.where(mask, weights, 0.0)
    return float((field * w).sum() / w.sum())


def regional_stats(bias: Field, grid: Grid) -> dict[str, dict[str, float]]:
    """{region: {"bias": mean bias, "rmse": root mean square error}} of one bias field, in K."""
    weights = grid.area_weights()
    out: dict[str, dict[str, float]] = {}
    for region in REGIONS:
        mask = region.mask(grid)
        out[region.name] = {
            "bias": weighted_mean(bias, weights, mask),
            "rmse": float(np.sqrt(weighted_mean(bias**2, weights, mask))),
        }
    return out


def bias_fields(ensemble: Ensemble) -> dict[str, Field]:
    """{source_id: model climatology - reference climatology}."""
    ref = climatology(ensemble.reference.tas)
    return {m.name: climatology(m.tas) - ref for m in ensemble.models}


def all_stats(ensemble: Ensemble, biases: dict[str, Field]) -> dict[str, dict[str, dict[str, float]]]:
    """{source_id: {region: {metric: value}}}, the nesting of the metric bundle."""
    return {name: regional_stats(field, ensemble.grid) for name, field in biases.items()}


def global_mean_anomaly(tas: Field, grid: Grid, yrs: NDArray[np.int64]) -> Field:
    """Annual global-mean series relative to its own BASELINE-period mean, in K."""
    w = grid.area_weights()
    series = (tas * w[None, :, :]).sum(axis=(1, 2)) / w.sum()
    base = (yrs >= BASELINE[0]) & (yrs <= BASELINE[1])
    return np.asarray(series - series[base].mean(), dtype=np.float64)
