"""An input folder: the same annual-mean tas fields as the synthetic ones, stored as files.

``python3 -m example_diagnostic make-input DIR`` writes one; ``--input-dir DIR`` (or ``EXAMPLE_INPUT_DIR``)
reads it instead of generating the data, as a real diagnostic reads a data archive mounted into its
container. The format needs only numpy (no NetCDF)::

    DIR/dataset.json         {"format": FORMAT, "seed": N, "resolution_deg": 2.5, "first_year": 1980,
                              "last_year": 2014, "datasets": [{"source_id": ..., "kind": "reference" | "model",
                                                               "file": "tas_<source_id>.npy"}, ...]}
    DIR/tas_<source_id>.npy  float32 (year, lat, lon) in K, on the regular grid of ``resolution_deg``

The reference and the models must be those of ``data.MODELS`` (the bundles describe them). Reading never
writes into the folder, so it may be mounted read-only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from example_diagnostic.data import (
    FIRST_YEAR,
    LAST_YEAR,
    MODELS,
    REFERENCE_ID,
    RESOLUTION_DEG,
    Dataset,
    Ensemble,
    Grid,
    generate,
    years,
)

FORMAT = "example-diagnostic/input/v1"
INDEX = "dataset.json"


class InputError(ValueError):
    """The input folder is missing, incomplete or not in the expected format."""


def _file(source_id: str) -> str:
    return f"tas_{source_id}.npy"


def write_input(folder: Path, seed: int) -> list[Path]:
    """Write the synthetic data of ``seed`` into ``folder`` (created); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    ensemble = generate(seed)
    written: list[Path] = []
    entries: list[dict[str, str]] = []
    for kind, dataset in [("reference", ensemble.reference), *(("model", m) for m in ensemble.models)]:
        path = folder / _file(dataset.name)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("wb") as handle:
            np.save(handle, dataset.tas.astype(np.float32))
        os.replace(tmp, path)
        written.append(path)
        entries.append({"source_id": dataset.name, "kind": kind, "file": path.name})
    index: dict[str, Any] = {"format": FORMAT, "seed": seed, "resolution_deg": RESOLUTION_DEG,
                             "first_year": FIRST_YEAR, "last_year": LAST_YEAR, "datasets": entries}
    (folder / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written.append(folder / INDEX)
    return written


def read_input(folder: Path) -> Ensemble:
    """The ensemble stored in ``folder``; ``InputError`` says what is wrong with it."""
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{folder}: no {INDEX} (write one with `python3 -m example_diagnostic make-input "
                         f"{folder}`)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder / INDEX}: {exc}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise InputError(f"{folder / INDEX}: not an input index of format {FORMAT}")
    if (index.get("resolution_deg"), index.get("first_year"), index.get("last_year")) != (
            RESOLUTION_DEG, FIRST_YEAR, LAST_YEAR):
        raise InputError(f"{folder / INDEX}: expected a {RESOLUTION_DEG}° grid and the years {FIRST_YEAR}-{LAST_YEAR}")
    grid, yrs = Grid.regular(RESOLUTION_DEG), years()
    shape = (yrs.size, *grid.shape)
    found: dict[str, Dataset] = {}
    for entry in index.get("datasets") or []:
        source_id, name = entry.get("source_id"), entry.get("file")
        if source_id not in {REFERENCE_ID, *(m.source_id for m in MODELS)}:
            raise InputError(f"{folder / INDEX}: unknown source_id {source_id!r}")
        if not isinstance(name, str) or "/" in name or name.startswith("."):
            raise InputError(f"{folder / INDEX}: {source_id}: file must be a plain file name in the folder")
        try:
            tas = np.load(folder / name, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"{folder / name}: {exc}") from None
        if tas.shape != shape or not np.issubdtype(tas.dtype, np.floating):
            raise InputError(f"{folder / name}: expected floats of shape {shape}, got {tas.dtype} {tas.shape}")
        found[source_id] = Dataset(name=source_id, tas=tas.astype(np.float64))
    missing = [s for s in (REFERENCE_ID, *(m.source_id for m in MODELS)) if s not in found]
    if missing:
        raise InputError(f"{folder / INDEX}: no dataset for {', '.join(missing)}")
    return Ensemble(grid=grid, years=yrs, reference=found[REFERENCE_ID],
                    models=tuple(found[m.source_id] for m in MODELS), seed=int(index.get("seed", 0)))
