"""Collect benchmark output into JSON lines, and render docs/benchmarks.md.

``render RUN.jsonl`` merges the run's lines into ``benchmarks/latest.jsonl`` (committed: the latest result of
every benchmark, with its run id, time and load) and renders all of them, so that ``benchmarks/run NAME``
updates one benchmark's figures without dropping the others'. A run that printed no figures (killed,
crashed) keeps the recorded ones; the page is written whole or not at all."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GOALS = {
    "parse": "parse + validate ≤ 3× a bare `json.load` of the same file (issue 2)",
    "ingest": "our ingest ≤ 2× a plain psycopg `COPY` of the same rows; a repeat ingest adds 0 rows (issue 2)",
    "run_overhead": "`run` (shim + classify + publish + ingest) adds < 1 s over the bare command (issue 2)",
    "publish": "publishing 1,000 files (1 GB) reaches ≥ 80 % of a plain boto3 upload loop's throughput (issue 5)",
    "pod_overhead": "a no-op diagnostic's Pod: the init container, shim and sidecar add < 3 s over a Pod running the bare "
                    "command, on the real node (issue 5)",
    "operator_scale": "500 executions at once (kwok): our p99 creation→Job ≤ 1.5× a minimal Kopf operator's, "
                      "operator RSS < 250 MB (issue 4)",
    "scale": "N executions in bursts with a mix of outcomes (kwok): our Job-creation rate ≥ 80 % of a direct client "
             "loop's, p99 creation→Job ≤ 1.5× the minimal Kopf operator's, every execution ends as the mix says, "
             "RSS grows less than linearly with live executions (issue 7)",
}
LATEST = Path(__file__).with_name("latest.jsonl")


def last_json(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    found = None
    for i, ch in enumerate(text):
        if ch == "{" and (i == 0 or text[i - 1] == "\n"):
            try:
                value, _ = decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                found = value
    return found


def collect(name: str, status: str, seconds: str, output: str, command: str) -> None:
    data = last_json(Path(output).read_text(encoding="utf-8", errors="replace"))
    print(json.dumps({"name": name, "exit": int(status), "seconds": int(seconds), "command": command,
                      "result": data}))


def machine() -> str:
    load = os.getloadavg()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        commit = "?"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.node()}: {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
            f"commit {commit}, load average at the end {load[0]:.1f}")


def merge(path: str) -> list[dict[str, Any]]:
    """The run's lines (stamped with run id, time, machine and load) over the latest of every other benchmark."""
    run_id = Path(path).stem
    stamp = {"run": run_id, "written": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}
    old = [json.loads(line) for line in LATEST.read_text().splitlines() if line.strip()] if LATEST.is_file() else []
    stamped = {item["name"]: item for item in old if item.get("run") == run_id}  # a re-render keeps the stamps
    new = [json.loads(line) | {k: stamped.get(line_name(line), stamp).get(k, v) for k, v in stamp.items()}
           for line in Path(path).read_text().splitlines() if line.strip()]
    recorded = {item["name"]: item for item in old}
    kept = [item for item in new if item.get("result") is None and item["name"] in recorded]
    for item in kept:  # killed or crashed before it printed figures: it does not wipe the recorded ones
        print(f"{item['name']}: no result (exit {item['exit']}); the figures of run "
              f"{recorded[item['name']].get('run', '?')} stay", file=sys.stderr)
    new = [item for item in new if item not in kept]
    names = {item["name"] for item in new}
    merged = {item["name"]: item for item in old if item["name"] not in names} | {i["name"]: i for i in new}
    order = list(GOALS)
    items = sorted(merged.values(), key=lambda i: order.index(i["name"]) if i["name"] in order else len(order))
    LATEST.write_text("".join(json.dumps(item) + "\n" for item in items))
    return items


def line_name(line: str) -> str:
    return str(json.loads(line)["name"])


def render(path: str, target: str | None = None) -> None:
    """Merge the run into latest.jsonl and write the page to ``target`` (whole or not at all), or print it."""
    text = page(merge(path))
    if target is None:
        print(text)
        return
    partial = Path(target).with_suffix(".md.partial")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(target)


def page(lines: list[dict[str, Any]]) -> str:
    out = [
        "# Benchmarks",
        "",
        "Figures from the latest run of each benchmark (`benchmarks/run` or `benchmarks/run NAME`; each section",
        "names its run, the machine and the load average at its end; the merged results are kept in",
        "`benchmarks/latest.jsonl`).",
        "Each benchmark measures its baseline in the same run, interleaved where it can; medians and ratios are",
        "reported because the machine is shared and noisy. Raw output lands in `benchmarks/results/` (not",
        "committed).",
        "",
        "| benchmark | goal | result | met? | run |",
        "|---|---|---|---|---|",
    ]
    details = []
    for item in lines:
        result = item.get("result") or {}
        out.append(f"| {item['name']} | {GOALS.get(item['name'], '')} | {summary(item['name'], result)} | "
                   f"{'yes' if item['exit'] == 0 else '**no**'} | `{item.get('run', '?')}` |")
        details += ["", f"## {item['name']}", "",
                    f"Run `{item.get('run', '?')}`, written {item.get('written', '?')}; {item.get('machine', '?')}.",
                    "", f"Command: `{item['command']}` ({item['seconds']} s).", ""]
        if isinstance(result.get("plot"), str) and Path(result["plot"]).is_relative_to("docs"):
            details += [f"![{item['name']}]({Path(result['plot']).relative_to('docs')})", ""]
        details += ["```json", json.dumps(result, indent=2), "```"]
    notes = Path(__file__).with_name("NOTES.md")
    if notes.is_file():
        out += ["", notes.read_text(encoding="utf-8").rstrip()]
    return "\n".join(out + details)


def summary(name: str, r: dict[str, Any]) -> str:
    def g(*keys: str) -> Any:
        for key in keys:
            if key in r:
                return r[key]
        return "?"

    if name == "run_overhead":
        return (f"wall: bare {g('bare_median_s')} s, run {g('run_median_s')} s, overhead {g('overhead_median_s')} s; "
                f"CPU: overhead {g('cpu_overhead_median_s')} s (medians of {g('runs')})")
    if name == "pod_overhead":
        return (f"median kubectl create → Succeeded: bare {g('bareMedianSeconds')} s, full {g('fullMedianSeconds')} s, "
                f"extra {g('extraSeconds')} s (of {g('repeat')} each, alternating)")
    if name == "operator_scale":
        ours, base, writes = r.get("ours") or {}, r.get("baseline") or {}, r.get("writes") or {}
        return (f"N={g('n')}: p99 creation→Job ours {ours.get('create_to_job_p99_s')} s vs baseline "
                f"{base.get('create_to_job_p99_s')} s (ratio {g('p99_ratio')}); p50 {ours.get('create_to_job_p50_s')} "
                f"vs {base.get('create_to_job_p50_s')} s; peak RSS {g('ours_peak_rss_mb')} MB; all terminal "
                f"{ours.get('all_terminal_s')} s vs {base.get('all_terminal_s')} s"
                + (f"; baseline with our API writes: p99 {writes.get('create_to_job_p99_s')} s (ratio to the baseline "
                   f"{g('p99_ratio_writes_baseline')}, ours to it {g('p99_ratio_ours_writes')})" if writes else ""))
    if name == "scale":
        return scale_summary(r)
    return ", ".join(f"{k} {v}" for k, v in r.items() if isinstance(v, (int, float, str)) and "ratio" in k) or "see below"


def scale_summary(r: dict[str, Any]) -> str:
    """One cell per N (benchmarks/scale.py): rates, latency, terminal time, RSS, CPU, API requests, load."""
    parts = []
    for n, e in (r.get("per_n") or {}).items():
        ours, base, direct = e.get("ours") or {}, e.get("baseline") or {}, e.get("direct") or {}
        writes = e.get("writes") or {}
        parts.append(
            f"N={n}: Job rate ours {ours.get('job_rate_per_s')}/s vs direct {direct.get('job_rate_per_s')}/s "
            f"(ratio {e.get('rate_ratio_ours_direct')}); p50/p99 creation→Job ours {ours.get('create_to_job_p50_s')}/"
            f"{ours.get('create_to_job_p99_s')} s vs baseline {base.get('create_to_job_p50_s')}/"
            f"{base.get('create_to_job_p99_s')} s (p99 ratio {e.get('p99_ratio_ours_baseline')}); all terminal "
            f"{ours.get('all_terminal_s')} s; {ours.get('attempts_per_s')} attempts/s; peak RSS "
            f"{ours.get('peak_rss_mb')} MB; CPU {ours.get('cpu_s')} s ({ours.get('cpu_ms_per_execution')} ms/execution); "
            f"API requests/execution ours {ours.get('api_requests_per_execution')}, direct "
            f"{direct.get('api_requests_per_execution')} (approximate); mix as expected {e.get('ours_mix_as_expected')}"
            + (f"; baseline with our API writes: Job rate {writes.get('job_rate_per_s')}/s (ratio to direct "
               f"{e.get('rate_ratio_writes_direct')}), p99 {writes.get('create_to_job_p99_s')} s (ratio to the baseline "
               f"{e.get('p99_ratio_writes_baseline')}, ours to it {e.get('p99_ratio_ours_writes')})" if writes else "")
        )
    memory = r.get("memory") or {}
    parts.append(
        f"memory: RSS(largest N)/RSS(smallest N) {memory.get('rss_ratio_largest_smallest')} vs N ratio "
        f"{memory.get('n_ratio')}, sub-linear {memory.get('sublinear')}; load {r.get('load_start')} → {r.get('load_end')}"
    )
    return "<br>".join(parts)


if __name__ == "__main__":
    if sys.argv[1] == "collect":
        collect(*sys.argv[2:7])
    else:
        render(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
