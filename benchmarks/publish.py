"""Publish throughput: S3Store.put_files against a plain boto3 ``upload_file`` loop, same thread pool size.

Starts its own moto S3 server on 127.0.0.1 (or uses ``--endpoint``), writes N files totalling S bytes, then
for each repetition uploads them (a) with a ThreadPoolExecutor running ``client.upload_file`` and (b) with
``S3Store.put_files``, each into a fresh bucket that is emptied and deleted afterwards (moto keeps objects
in memory) — by default on a fresh moto server per measurement (see --shared-server). The two are interleaved (a, b, b, a, a, b, ...) so drift hits both alike. ``ratio`` (checked) is
median throughput of (b) over that of (a); ``paired_ratio_median`` (informational) is the median of the
per-repetition ratios, which is steadier on a busy machine. Also measured: a replay of
(b) into the same bucket (everything skipped) and (b) with ``skip_existing=False``.

    .venv/bin/python benchmarks/publish.py                          # 1,000 files, 1 GB (1000 MB), 3 repetitions
    .venv/bin/python benchmarks/publish.py --files 200 --total-mb 100   # quick run

Prints one JSON document; exits 1 if store/baseline throughput < --min-ratio (0.8) unless --no-check.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from tests.services.s3 import FAKE_ENV, S3Server, start_s3_server  # noqa: E402

from diagnostic_operator.store import S3Store  # noqa: E402

MB = 1_000_000


def make_files(folder: Path, files: int, total_bytes: int) -> list[tuple[str, Path]]:
    base, extra = divmod(total_bytes, files)
    items: list[tuple[str, Path]] = []
    block = os.urandom(1 << 20)
    for i in range(files):
        size = base + (1 if i < extra else 0)
        path = folder / f"{i // 100:03d}" / f"file-{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            # unique content per file (a counter prefix), cheap to generate
            header = f"{i:012d}".encode()
            remaining = size
            first = True
            while remaining > 0:
                chunk = (header + block)[:remaining] if first else block[:remaining]
                fh.write(chunk)
                remaining -= len(chunk)
                first = False
        items.append((f"outputs/{i // 100:03d}/file-{i:05d}.bin", path))
    return items


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def baseline_client(endpoint: str, concurrency: int) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=FAKE_ENV["AWS_REGION"],
        aws_access_key_id=FAKE_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
        config=Config(max_pool_connections=max(10, concurrency) + 4, s3={"addressing_style": "path"},
                      retries={"mode": "standard", "max_attempts": 5}),
    )


def run_baseline(server: S3Server, items: list[tuple[str, Path]], concurrency: int) -> float:
    client = baseline_client(server.endpoint_url, concurrency)
    bucket = server.create_bucket(f"bench-a-{uuid.uuid4().hex[:10]}")
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [pool.submit(client.upload_file, str(p), bucket, f"pre/{k}") for k, p in items]
            for f in futures:
                f.result()
        return time.perf_counter() - t0
    finally:
        server.delete_bucket(bucket)


def run_store(server: S3Server, items: list[tuple[str, Path]], concurrency: int,
              extra: dict[str, float] | None = None) -> float:
    bucket = server.create_bucket(f"bench-b-{uuid.uuid4().hex[:10]}")
    try:
        store = S3Store(bucket, "pre", env=server.env, max_connections=max(32, concurrency))
        t0 = time.perf_counter()
        store.put_files(items, concurrency=concurrency)
        elapsed = time.perf_counter() - t0
        if extra is not None:
            t1 = time.perf_counter()
            store.put_files(items, concurrency=concurrency)  # replay: everything is skipped
            extra["replay_s"] = time.perf_counter() - t1
            raw = S3Store(bucket, "pre2", env=server.env, max_connections=max(32, concurrency),
                          skip_existing=False)
            t2 = time.perf_counter()
            raw.put_files(items, concurrency=concurrency)
            extra["no_skip_s"] = time.perf_counter() - t2
        return elapsed
    finally:
        server.delete_bucket(bucket)


def summary(seconds: list[float], total_bytes: int) -> dict[str, Any]:
    med = statistics.median(seconds)
    return {"seconds": [round(s, 3) for s in seconds], "median_s": round(med, 3),
            "MB_per_s": round(total_bytes / MB / med, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--total-mb", type=float, default=1000.0, help="total size in MB (10^6 bytes)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="repetitions (median reported; at least 3)")
    ap.add_argument("--min-ratio", type=float, default=0.8)
    ap.add_argument("--no-check", action="store_true", help="always exit 0")
    ap.add_argument("--port", type=int, default=None, help="port for the moto server (default: a free one)")
    ap.add_argument("--shared-server", action="store_true",
                    help="one moto server for all runs (default: a fresh server per measurement)")
    ap.add_argument("--workdir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    args = ap.parse_args(argv)
    repeats = max(3, args.repeats)
    total_bytes = int(args.total_mb * MB)

    with tempfile.TemporaryDirectory(prefix="publish-bench-", dir=args.workdir) as tmp:
        t0 = time.perf_counter()
        items = make_files(Path(tmp), args.files, total_bytes)
        gen_s = time.perf_counter() - t0
        base_s: list[float] = []
        store_s: list[float] = []
        extras: list[dict[str, float]] = []
        peak_rss = 0.0
        shared = start_s3_server(args.port) if args.shared_server else None
        try:
            for i in range(repeats):
                order = ("baseline", "store") if i % 2 == 0 else ("store", "baseline")  # cancel order effects
                for kind in order:
                    # A fresh moto server per measurement by default: moto slows down as it accumulates
                    # (and never returns) memory, which would otherwise penalise whichever runs later.
                    server = shared or start_s3_server(args.port)
                    try:
                        warm = items[: min(20, len(items))]  # connections, imports, moto code paths
                        if kind == "baseline":
                            run_baseline(server, warm, args.concurrency)
                            base_s.append(run_baseline(server, items, args.concurrency))
                        else:
                            run_store(server, warm, args.concurrency)
                            extra: dict[str, float] = {}
                            store_s.append(run_store(server, items, args.concurrency, extra if i == 0 else None))
                            if extra:
                                extras.append(extra)
                        pid = server.process.pid if server.process else 0
                        peak_rss = max(peak_rss, rss_mb(pid) or 0.0)
                    finally:
                        if shared is None:
                            server.stop()
                print(f"rep {i + 1}/{repeats}: baseline {base_s[-1]:.2f}s, store {store_s[-1]:.2f}s",
                      file=sys.stderr, flush=True)
        finally:
            if shared is not None:
                shared.stop()

    base = summary(base_s, total_bytes)
    ours = summary(store_s, total_bytes)
    ratio = ours["MB_per_s"] / base["MB_per_s"]
    result = {
        "files": args.files, "total_bytes": total_bytes, "file_bytes": total_bytes // max(1, args.files),
        "concurrency": args.concurrency, "repeats": repeats, "generate_s": round(gen_s, 2),
        "baseline_boto3_upload_file": base, "s3store_put_files": ours,
        "ratio": round(ratio, 3),
        "paired_ratio_median": round(statistics.median(b / s for b, s in zip(base_s, store_s, strict=True)), 3), "min_ratio": args.min_ratio, "ok": ratio >= args.min_ratio,
        "s3store_replay_all_skipped_s": round(extras[0]["replay_s"], 3) if extras else None,
        "s3store_skip_existing_false_s": round(extras[0]["no_skip_s"], 3) if extras else None,
        "moto_server_rss_mb": round(peak_rss, 1), "fresh_server_per_run": not args.shared_server,
    }
    print(json.dumps(result, indent=2))
    if not result["ok"] and not args.no_check:
        print(f"FAIL: throughput ratio {ratio:.3f} < {args.min_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
