"""Synthetic, seeded annual-mean surface air temperature (tas) fields.

A HadCRUT5-like "observed" reference and three CMIP6-like models share one 2.5° grid and the years
1980–2014. Every dataset is built the same way::

    tas(year, lat, lon) = climatology(lat, lon) + bias pattern(lat, lon)          (zero for the reference)
                          + global anomaly(year) × amplification(lat) + weather noise

The global anomaly has a warming trend scaled by each model's sensitivity, volcanic cooling (El Chichón
1982, Pinatubo 1991) and ENSO-like AR(1) variability. The amplification pattern is stronger in the
Arctic. The bias patterns are those well known from CMIP6 evaluation, caricatured: a cold tropical
band, warm poles, a cold Antarctic and warm eastern-boundary upwelling regions.

Each dataset has its own random stream derived from ``(seed, dataset index)``, so the numbers do not
depend on the order in which datasets are generated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Field = NDArray[np.float64]

RESOLUTION_DEG = 2.5
FIRST_YEAR = 1980
LAST_YEAR = 2014
BASELINE = (1981, 2010)  # anomaly baseline of the time series (WMO normal period)
REFERENCE_ID = "HadCRUT5-synthetic"
DEFAULT_SEED = 1850
ZERO_CELSIUS = 273.15


@dataclass(frozen=True, slots=True)
class Grid:
    """Cell centres of a regular lat–lon grid, in degrees."""

    lat: NDArray[np.float64]  # south to north
    lon: NDArray[np.float64]  # 0 to 360 east

    @classmethod
    def regular(cls, resolution: float = RESOLUTION_DEG) -> Grid:
        half = resolution / 2
        lat = np.arange(-90 + half, 90, resolution, dtype=np.float64)
        lon = np.arange(half, 360, resolution, dtype=np.float64)
        return cls(lat=lat, lon=lon)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat.size, self.lon.size)

    def mesh(self) -> tuple[Field, Field]:
        """(lat, lon) broadcast to the grid's shape, in degrees."""
        lon2d, lat2d = np.meshgrid(self.lon, self.lat)
        return lat2d, lon2d

    def area_weights(self) -> Field:
        """cos(latitude) weights on the grid's shape (proportional to cell area on a regular grid)."""
        lat2d, _ = self.mesh()
        return np.cos(np.deg2rad(lat2d))


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """How a synthetic model differs from the reference."""

    source_id: str
    institution: str
    description: str  # the bias pattern, in words
    sensitivity: float  # warming trend relative to the reference
    member_id: str
    version: str  # pseudo dataset version, for provenance
    bias: Callable[[Field, Field], Field]  # (lat2d, lon2d) in degrees -> bias in K


def _gauss(x: Field, centre: float, width: float) -> Field:
    return np.exp(-(((x - centre) / width) ** 2))


def _lon_gauss(lon: Field, centre: float, width: float) -> Field:
    wrapped = (lon - centre + 180.0) % 360.0 - 180.0
    return np.exp(-((wrapped / width) ** 2))


def _access_bias(lat: Field, lon: Field) -> Field:
    # Cold tropics (too-strong cold tongue) and a warm Southern Ocean (too little low cloud).
    return (0.15 - 2.0 * _gauss(lat, 0.0, 16.0) * (1.0 + 0.4 * np.cos(np.deg2rad(lon - 220.0)))
            + 1.3 * _gauss(lat, -57.0, 9.0))


def _canesm_bias(lat: Field, lon: Field) -> Field:
    # Warm poles, strongest in the Arctic, and a slight warm offset everywhere.
    s = np.sin(np.deg2rad(lat))
    return 0.35 + 1.8 * s**6 + 3.2 * _gauss(lat, 90.0, 18.0) * (1.0 + 0.3 * np.cos(np.deg2rad(lon)))


def _cesm_bias(lat: Field, lon: Field) -> Field:
    # Cold Antarctica and cold Eurasian winter continent; warm eastern-boundary upwelling regions.
    upwelling = (2.0 * _gauss(lat, -17.0, 8.0) * _lon_gauss(lon, 280.0, 14.0)
                 + 1.6 * _gauss(lat, -18.0, 8.0) * _lon_gauss(lon, 8.0, 12.0)
                 + 1.4 * _gauss(lat, 27.0, 7.0) * _lon_gauss(lon, 235.0, 14.0))
    eurasia = -1.2 * _gauss(lat, 58.0, 10.0) * _lon_gauss(lon, 95.0, 45.0)
    return -0.05 - 3.0 * _gauss(lat, -85.0, 12.0) + upwelling + eurasia


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("ACCESS-ESM1-5", "CSIRO", "cold tropics, warm Southern Ocean", 1.10, "r1i1p1f1",
              "v20191115", _access_bias),
    ModelSpec("CanESM5", "CCCma", "warm poles (Arctic amplified), high sensitivity", 1.60, "r1i1p1f1",
              "v20190429", _canesm_bias),
    ModelSpec("CESM2", "NCAR", "cold Antarctica and Eurasia, warm upwelling regions", 1.25, "r1i1p1f1",
              "v20190308", _cesm_bias),
)


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    tas: Field  # (year, lat, lon) in K


@dataclass(frozen=True, slots=True)
class Ensemble:
    grid: Grid
    years: NDArray[np.int64]
    reference: Dataset
    models: tuple[Dataset, ...]
    seed: int


def years() -> NDArray[np.int64]:
    return np.arange(FIRST_YEAR, LAST_YEAR + 1, dtype=np.int64)


def reference_climatology(grid: Grid) -> Field:
    """A plausible annual-mean tas climatology in K: warm tropics, cold poles, a colder Antarctica."""
    lat, lon = grid.mesh()
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    zonal = ZERO_CELSIUS + 27.5 - 42.0 * np.sin(phi) ** 2 - 20.0 * _gauss(lat, -90.0, 16.0)
    waves = 2.0 * np.cos(phi) ** 2 * np.cos(2 * lam) + 1.5 * np.sin(2 * phi) * np.sin(lam)
    return np.asarray(zonal + waves, dtype=np.float64)


def amplification(grid: Grid) -> Field:
    """Local warming per unit of global warming: Arctic-amplified, area-weighted mean exactly 1."""
    lat, _ = grid.mesh()
    s = np.sin(np.deg2rad(lat))
    raw = 0.8 + 1.6 * np.clip(s, 0.0, None) ** 4 + 0.2 * np.cos(np.deg2rad(lat))
    w = grid.area_weights()
    return raw / float((raw * w).sum() / w.sum())


def global_anomaly(yrs: NDArray[np.int64], sensitivity: float, rng: np.random.Generator) -> Field:
    """Annual global-mean anomaly in K: trend × sensitivity, volcanoes, ENSO-like AR(1) noise."""
    t = (yrs - 1997).astype(np.float64)
    trend = 0.018 * sensitivity * t
    volcanic = np.zeros(yrs.size)
    for year, cooling in ((1982, -0.05), (1983, -0.15), (1984, -0.05),
                          (1991, -0.05), (1992, -0.35), (1993, -0.20)):
        volcanic[yrs == year] = cooling * min(sensitivity, 1.3)
    enso = np.empty(yrs.size)
    state = 0.0
    for i in range(yrs.size):
        state = 0.45 * state + rng.normal(0.0, 0.09)
        enso[i] = state
    return trend + volcanic + enso


def regional_errors(grid: Grid, rng: np.random.Generator, amplitude: float, waves: int = 8) -> Field:
    """Smooth, random large-scale errors (a sum of random waves), zero-mean on the sphere on average."""
    lat, lon = grid.mesh()
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    out = np.zeros(grid.shape)
    for _ in range(waves):
        m = int(rng.integers(1, 5))  # zonal wavenumber
        n = int(rng.integers(1, 5))  # meridional wavenumber
        out += (rng.normal(0.0, 1.0) * np.cos(m * lam + rng.uniform(0, 2 * np.pi))
                * np.sin(n * phi + rng.uniform(0, 2 * np.pi)))
    return np.asarray(amplitude * out / np.sqrt(waves / 4), dtype=np.float64)


def _dataset(name: str, grid: Grid, yrs: NDArray[np.int64], bias: Field, sensitivity: float,
             seed: int, index: int) -> Dataset:
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    if index > 0:  # models only: structural errors beyond the named bias pattern
        bias = bias + regional_errors(grid, rng, amplitude=0.6)
    clim = reference_climatology(grid) + bias
    anomaly = global_anomaly(yrs, sensitivity, rng)
    weather = rng.normal(0.0, 0.45, size=(yrs.size, *grid.shape))
    tas = clim[None, :, :] + anomaly[:, None, None] * amplification(grid)[None, :, :] + weather
    return Dataset(name=name, tas=tas)


def generate(seed: int = DEFAULT_SEED, grid: Grid | None = None) -> Ensemble:
    """The reference and the three models, deterministically from ``seed``."""
    grid = grid or Grid.regular()
    yrs = years()
    lat, lon = grid.mesh()
    reference = _dataset(REFERENCE_ID, grid, yrs, np.zeros(grid.shape), 1.0, seed, 0)
    models = tuple(
        _dataset(m.source_id, grid, yrs, m.bias(lat, lon), m.sensitivity, seed, i)
        for i, m in enumerate(MODELS, start=1)
    )
    return Ensemble(grid=grid, years=yrs, reference=reference, models=models, seed=seed)
