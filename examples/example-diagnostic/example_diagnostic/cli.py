"""Command line: run the diagnostic, or misbehave on purpose for the failure demos.

Knobs (each flag can also be set with an environment variable; a flag on the command line wins):

=========================  =========================  ===============================================
flag                       environment variable       effect
=========================  =========================  ===============================================
``--exit-code N``          ``EXAMPLE_EXIT_CODE``      compute and log as usual, then exit N without
                                                      writing any result file
``--allocate-mib N``       ``EXAMPLE_ALLOCATE_MIB``   right after numpy is imported (before
                                                      matplotlib), allocate and touch N MiB, then free
                                                      it and continue
``--invalid-bundle``       ``EXAMPLE_INVALID_BUNDLE`` write every file, but a metric bundle with a
                                                      string leaf; exit 0
``--sleep SECONDS``        ``EXAMPLE_SLEEP``          sleep first, printing a heartbeat every second
``--seed N``               ``EXAMPLE_SEED``           seed of the synthetic data (default 1850)
``--input-dir DIR``        ``EXAMPLE_INPUT_DIR``      read the data from DIR (written by ``make-input``)
                                                      instead of generating it
``--output-dir DIR``       ``DIAGNOSTIC_RESULTS_DIR`` where to write the results (the runner sets
                           or ``DIAGNOSTIC_OUTPUT_DIR`` DIAGNOSTIC_RESULTS_DIR when the spec has a
                                                      results.directory)
=========================  =========================  ===============================================

``python3 -m example_diagnostic make-input DIR [--seed N]`` writes an input folder (``inputs.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from example_diagnostic import __version__, bundles
from example_diagnostic.data import (
    BASELINE,
    DEFAULT_SEED,
    FIRST_YEAR,
    LAST_YEAR,
    MODELS,
    REFERENCE_ID,
    RESOLUTION_DEG,
    generate,
)
from example_diagnostic.inputs import InputError, read_input, write_input
from example_diagnostic.metrics import REGIONS, all_stats, bias_fields, climatology, global_mean_anomaly

T = TypeVar("T")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def log(message: str) -> None:
    print(f"[example-diagnostic] {message}", flush=True)


def _from_env(name: str, convert: Callable[[str], T]) -> T | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return convert(raw.strip())
    except ValueError:
        raise SystemExit(f"example-diagnostic: {name}={raw!r} is not valid") from None


def _flag_from_env(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise SystemExit(f"example-diagnostic: {name}={raw!r} is not a boolean (use 1/0, true/false)")


def _non_negative(kind: Callable[[str], T]) -> Callable[[str], T]:
    def check(text: str) -> T:
        value = kind(text)
        if value < 0:  # type: ignore[operator]
            raise ValueError(f"{text} is negative")
        return value
    check.__name__ = kind.__name__
    return check


def _exit_code(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 255:
        raise ValueError(f"{text} is not an exit code (0-255)")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m example_diagnostic",
        description="Regional bias and RMSE of annual-mean surface air temperature for three synthetic "
                    f"CMIP6-like models against {REFERENCE_ID}. Writes diagnostic.json, output.json, "
                    "series.json, plots and data into the output folder.",
        epilog="Every knob can also be set with its environment variable (EXAMPLE_EXIT_CODE, "
               "EXAMPLE_ALLOCATE_MIB, EXAMPLE_INVALID_BUNDLE, EXAMPLE_SLEEP, EXAMPLE_SEED, EXAMPLE_INPUT_DIR); "
               "flags win. `make-input DIR [--seed N]` writes an input folder for --input-dir.",
    )
    parser.add_argument("--output-dir", type=Path,
                        default=os.environ.get("DIAGNOSTIC_RESULTS_DIR") or os.environ.get("DIAGNOSTIC_OUTPUT_DIR")
                        or None,
                        help="result folder (default: $DIAGNOSTIC_RESULTS_DIR, else $DIAGNOSTIC_OUTPUT_DIR)")
    parser.add_argument("--input-dir", type=Path, default=os.environ.get("EXAMPLE_INPUT_DIR") or None,
                        help="read the data from this folder (see make-input) instead of generating it")
    env_seed = _from_env("EXAMPLE_SEED", _non_negative(int))
    parser.add_argument("--seed", type=_non_negative(int),
                        default=DEFAULT_SEED if env_seed is None else env_seed,
                        help=f"seed of the synthetic data (default {DEFAULT_SEED})")
    parser.add_argument("--exit-code", type=_exit_code, metavar="N",
                        default=_from_env("EXAMPLE_EXIT_CODE", _exit_code),
                        help="after logging, exit N without writing results")
    parser.add_argument("--allocate-mib", type=_non_negative(int), metavar="N",
                        default=_from_env("EXAMPLE_ALLOCATE_MIB", _non_negative(int)),
                        help="allocate and touch N MiB right after importing numpy, then free it")
    parser.add_argument("--invalid-bundle", action=argparse.BooleanOptionalAction,
                        default=_flag_from_env("EXAMPLE_INVALID_BUNDLE"),
                        help="write a metric bundle with a string leaf, then exit 0")
    parser.add_argument("--sleep", type=_non_negative(float), metavar="SECONDS",
                        default=_from_env("EXAMPLE_SLEEP", _non_negative(float)),
                        help="sleep before working, printing a heartbeat every second")
    parser.add_argument("--version", action="version", version=f"example-diagnostic {__version__}")
    return parser.parse_args(argv)


def allocate(mib: int) -> None:
    log(f"allocating and touching {mib} MiB")
    block = np.ones(mib * 2**20, dtype=np.uint8)  # np.ones writes every page, so it is resident
    log(f"allocated and touched {mib} MiB (sum check {int(block[:: 2**20].sum())} pages); freeing it")
    del block


def sleep(seconds: float) -> None:
    log(f"sleeping {seconds:g}s before working")
    deadline = time.monotonic() + seconds
    beat = 0
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        beat += 1
        log(f"heartbeat {beat}: {max(deadline - time.monotonic(), 0.0):.0f}s left")


def print_table(stats: dict[str, dict[str, dict[str, float]]]) -> None:
    header = f"{'source_id':<15}" + "".join(f"{r.name + ' bias':>14}{r.name + ' rmse':>14}" for r in REGIONS)
    log("results (K), area-weighted over the 1980-2014 climatology:")
    print(header, flush=True)
    for source_id, regions in stats.items():
        cells = "".join(f"{regions[r.name]['bias']:>+14.3f}{regions[r.name]['rmse']:>14.3f}" for r in REGIONS)
        print(f"{source_id:<15}{cells}", flush=True)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.output_dir is None:
        print("example-diagnostic: DIAGNOSTIC_OUTPUT_DIR is not set (or pass --output-dir)", file=sys.stderr)
        return 2
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log(f"example-diagnostic {__version__} ({bundles.PROVIDER}/{bundles.SLUG}), numpy {np.__version__}, "
        f"output folder {out}")

    if args.allocate_mib:
        allocate(args.allocate_mib)
    if args.sleep:
        sleep(args.sleep)

    if args.input_dir is not None:
        log(f"reading annual-mean tas from {args.input_dir}: {RESOLUTION_DEG}° grid, {FIRST_YEAR}-{LAST_YEAR}, "
            f"reference {REFERENCE_ID}, models {', '.join(m.source_id for m in MODELS)}")
        try:
            ensemble = read_input(Path(args.input_dir))
        except InputError as exc:
            print(f"example-diagnostic: input: {exc}", file=sys.stderr, flush=True)
            return 2
        args.seed = ensemble.seed
    else:
        log(f"generating synthetic annual-mean tas: {RESOLUTION_DEG}° grid, {FIRST_YEAR}-{LAST_YEAR}, "
            f"seed {args.seed}, reference {REFERENCE_ID}, models {', '.join(m.source_id for m in MODELS)}")
        ensemble = generate(args.seed)
    nlat, nlon = ensemble.grid.shape
    log(f"computing climatologies and bias fields on a {nlat}x{nlon} grid")
    biases = bias_fields(ensemble)
    log("computing area-weighted (cos latitude) bias and RMSE per region: "
        + ", ".join(f"{r.name} [{r.south:g}, {r.north:g}]" for r in REGIONS))
    stats = all_stats(ensemble, biases)
    print_table(stats)

    if args.exit_code is not None:
        log(f"failing on purpose (--exit-code {args.exit_code}): exiting without writing results")
        print(f"example-diagnostic: simulated failure, exit code {args.exit_code}", file=sys.stderr,
              flush=True)
        return int(args.exit_code)

    log(f"computing annual global-mean anomalies (baseline {BASELINE[0]}-{BASELINE[1]})")
    anomalies = {m.name: global_mean_anomaly(m.tas, ensemble.grid, ensemble.years).tolist()
                 for m in ensemble.models}
    reference_anomaly = global_mean_anomaly(ensemble.reference.tas, ensemble.grid, ensemble.years).tolist()

    log("writing data/tas_fields.npz")
    (out / "data").mkdir(exist_ok=True)
    arrays = {"lat": ensemble.grid.lat, "lon": ensemble.grid.lon, "years": ensemble.years,
              "reference_climatology": climatology(ensemble.reference.tas).astype(np.float32)}
    for m in ensemble.models:
        arrays[f"climatology_{m.name}"] = climatology(m.tas).astype(np.float32)
        arrays[f"bias_{m.name}"] = biases[m.name].astype(np.float32)
    with (out / bundles.DATA_FILE).open("wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
    grid, year_index = ensemble.grid, [int(y) for y in ensemble.years]
    del ensemble  # the annual fields are no longer needed: keep the plotting phase small

    log("drawing plots (matplotlib, Agg backend)")
    # Imported only now, so that --allocate-mib (and a failing run) never loads matplotlib.
    import matplotlib  # noqa: PLC0415

    from example_diagnostic import plots  # noqa: PLC0415

    limit = plots.symmetric_limit(list(biases.values()))
    for source_id, field in biases.items():
        plots.bias_map(out / bundles.bias_map_file(source_id), source_id, field, grid, stats[source_id],
                       limit)
        log(f"wrote {bundles.bias_map_file(source_id)}")
    plots.regional_summary(out / bundles.SUMMARY_PLOT, stats)
    log(f"wrote {bundles.SUMMARY_PLOT}")

    source_ids = list(stats)
    (out / bundles.HTML_FILE).write_text(bundles.index_html(stats, source_ids), encoding="utf-8")
    series = bundles.series_file(anomalies, reference_anomaly, year_index)
    bundles.write_json(out / bundles.SERIES_FILE, series)
    bundles.write_json(out / bundles.OUTPUT_BUNDLE, bundles.output_bundle(
        source_ids, args.seed, {"numpy": np.__version__, "matplotlib": matplotlib.__version__},
        str(args.input_dir) if args.input_dir is not None else None))
    metric = bundles.metric_bundle(stats, args.seed)
    if args.invalid_bundle:
        broken = bundles.invalidate(metric)
        log(f"writing an INVALID metric bundle on purpose (--invalid-bundle): {broken}")
    bundles.write_json(out / bundles.METRIC_BUNDLE, metric)
    log(f"wrote {bundles.HTML_FILE}, {bundles.SERIES_FILE}, {bundles.OUTPUT_BUNDLE}, {bundles.METRIC_BUNDLE}")
    log(f"done in {time.perf_counter() - started:.1f}s")
    return 0


def make_input(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m example_diagnostic make-input",
        description="Write the synthetic data into a folder (one .npy file per dataset and dataset.json), for "
                    "--input-dir / EXAMPLE_INPUT_DIR.")
    parser.add_argument("folder", type=Path, help="the input folder to write (created)")
    parser.add_argument("--seed", type=_non_negative(int), default=DEFAULT_SEED,
                        help=f"seed of the synthetic data (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    written = write_input(args.folder, args.seed)
    size = sum(path.stat().st_size for path in written)
    log(f"wrote {len(written)} files ({size / 2**20:.1f} MiB) into {args.folder}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["make-input"]:
        return make_input(args[1:])
    return run(parse_args(args))
