"""Figures, drawn with matplotlib's Agg backend (no display needed).

matplotlib is imported here only, and this module is imported only after the numbers are computed,
so the ``--allocate-mib`` knob runs before matplotlib is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure

from example_diagnostic.data import FIRST_YEAR, LAST_YEAR, REFERENCE_ID, Field, Grid
from example_diagnostic.metrics import REGIONS

DPI = 100
COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")


def symmetric_limit(fields: Sequence[Field]) -> float:
    """A shared, rounded colour-scale limit so that the maps of all models are comparable.

    The 95th percentile of |bias| rather than the maximum, so that one model's extreme spot does not
    wash out the others' maps; the colour bar extends beyond the limit.
    """
    top = float(np.percentile(np.abs(np.stack(fields)), 95))
    return max(0.5, math.ceil(top * 2) / 2)


def bias_map(path: Path, source_id: str, bias: Field, grid: Grid,
             stats: Mapping[str, Mapping[str, float]], limit: float) -> None:
    fig = Figure(figsize=(8.8, 4.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    half = float(grid.lat[1] - grid.lat[0]) / 2  # regular grid: imshow is much faster than pcolormesh
    extent = (float(grid.lon[0]) - half, float(grid.lon[-1]) + half, float(grid.lat[0]) - half,
              float(grid.lat[-1]) + half)
    mesh = ax.imshow(bias, origin="lower", extent=extent, cmap="RdBu_r", vmin=-limit, vmax=limit,
                     interpolation="nearest")
    for lat in (-30, 30):
        ax.axhline(lat, color="0.3", linewidth=0.8, linestyle="--")
    ax.axhline(0, color="0.5", linewidth=0.5)
    ax.set_xlim(0, 360)
    ax.set_ylim(-90, 90)
    ax.set_xticks(range(0, 361, 60))
    ax.set_yticks(range(-90, 91, 30))
    ax.set_xlabel("Longitude (°E)")
    ax.set_ylabel("Latitude (°N)")
    ax.set_aspect("equal")
    ax.set_title(f"{source_id} − {REFERENCE_ID}: annual-mean surface air temperature bias, "
                 f"{FIRST_YEAR}–{LAST_YEAR}", fontsize=10)
    g = stats["global"]
    ax.text(0.01, 0.02, f"global bias {g['bias']:+.2f} K, RMSE {g['rmse']:.2f} K",
            transform=ax.transAxes, fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})
    fig.colorbar(mesh, ax=ax, shrink=0.85, extend="both", label="tas bias (K)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def regional_summary(path: Path, stats: Mapping[str, Mapping[str, Mapping[str, float]]]) -> None:
    fig = Figure(figsize=(10, 4.2), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, 2)
    regions = [r.name for r in REGIONS]
    models = list(stats)
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(regions))
    for ax, metric, label in ((axes[0], "bias", "Mean bias (K)"), (axes[1], "rmse", "RMSE (K)")):
        for i, model in enumerate(models):
            values = [stats[model][r][metric] for r in regions]
            ax.bar(x + (i - (len(models) - 1) / 2) * width, values, width, label=model,
                   color=COLOURS[i % len(COLOURS)])
        ax.axhline(0, color="black", linewidth=0.7)
        ax.set_xticks(x, regions)
        ax.set_xlabel("Region")
        ax.set_ylabel(label)
        ax.set_title(label.split(" (")[0], fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Area-weighted annual-mean tas errors vs {REFERENCE_ID}, {FIRST_YEAR}–{LAST_YEAR}",
                 fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
