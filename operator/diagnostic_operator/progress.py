"""The live view of a local run (rich) and its final summary.

Whatever comes from a manifest, a configuration, a log or an error (messages, mount paths, folder names) is
printed as text, never as rich markup.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from diagnostic_operator.contracts.publish_summary import PublishSummary
from diagnostic_operator.lifecycle.policy import Outcome
from diagnostic_operator.plain import cells, line, plain
from diagnostic_operator.quantities import format_duration
from diagnostic_operator.settings import mask_url
from diagnostic_operator.spec import AttemptStatus, Decision, IngestCounts, Phase, ResourceHint
from diagnostic_operator.transports.local import LocalRunResult, Reporter
from diagnostic_operator.transports.local_mounts import Plan
from diagnostic_operator.transports.memory_limit import MemoryLimit

if TYPE_CHECKING:
    from diagnostic_operator.db.queries import ExecutionDetail

PHASE_STYLE = {Phase.SUCCEEDED: "bold green", Phase.FAILED: "bold red", Phase.CANCELLED: "yellow",
               Phase.RETRYING: "yellow", Phase.RUNNING: "cyan", Phase.PENDING: "dim"}


def mib(num: int | None) -> str:
    return "-" if num is None else f"{num / 2**20:,.0f} MiB"


class RichReporter(Reporter):
    """A live status line while an attempt runs, one line per finished attempt."""

    def __init__(self, console: Console, live: bool = True) -> None:
        self.console = console
        self.live_enabled = live and console.is_terminal
        self._live: Live | None = None
        self._last_plain = 0.0
        self._headline = ""

    def _update(self, renderable: Text | Group) -> None:
        if self._live is None and self.live_enabled:
            self._live = Live(renderable, console=self.console, refresh_per_second=8, transient=True)
            self._live.start()
        elif self._live is not None:
            self._live.update(renderable)

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def execution_started(self, name: str, uid: str, database: str, store: str) -> None:
        self.console.print(line(("diagnostic-operator run", "bold"), " ", (name, "cyan"), f" (uid {uid[:8]})"))
        self.console.print(line("  database ", (mask_url(database), "dim")))
        self.console.print(line("  store    ", (store, "dim")))

    def attempt_started(self, number: int, resources: ResourceHint, limit: MemoryLimit, workdir: Path) -> None:
        how = {"cgroup-v1": "memory cgroup v1", "cgroup-v2": "memory cgroup v2", "rlimit-as": "RLIMIT_AS"}
        self._headline = (f"attempt {number}: memory {resources.memory} ({how.get(limit.mechanism, 'no limit')}), "
                          f"cpu {resources.cpu}, wall clock {resources.wall_clock}")
        self.console.print(plain(f"▶ {self._headline}", "bold"))
        self.console.print(plain(f"  output folder {workdir}", "dim"))

    def attempt_running(self, number: int, elapsed: float, log_line: str | None) -> None:
        if self.live_enabled:
            self._update(line(("⠿ ", "cyan"), (f"attempt {number} running {elapsed:5.1f}s", "cyan"),
                              ("  │ " + (log_line or "")[:100], "dim")))
        elif log_line and time.monotonic() - self._last_plain > 10:  # off a tty: a log line at most every 10 s
            self._last_plain = time.monotonic()
            self.console.print(plain(f"  … running {elapsed:.0f}s  {log_line or ''}"[:160]))

    def publishing(self, number: int) -> None:
        if self.live_enabled:
            self._update(plain(f"⠿ attempt {number}: publishing and ingesting…", "cyan"))

    def attempt_finished(self, status: AttemptStatus, outcome: Outcome, summary: PublishSummary) -> None:
        self._stop()
        style = {Decision.SUCCESS: "green", Decision.RETRY: "yellow", Decision.GIVE_UP: "red"}.get(
            outcome.decision, "white")
        tel = status.telemetry
        self.console.print(line(
            "  ", (f"■ {status.failure_class} ({status.reason}) → {outcome.decision}", style),
            f"  exit {status.exit_code if status.exit_code is not None else '-'}, "
            f"{tel.duration_seconds or 0:.1f}s, peak {mib(tel.peak_memory_bytes)} "
            f"({tel.peak_memory_source or 'n/a'}), cpu {tel.cpu_seconds or 0:.1f}s"))
        self.console.print(plain(f"    {status.message}"))
        if summary.ingested:
            c = summary.counts
            self.console.print(plain(f"    ingested {c.outputs} outputs, {c.scalar_values} scalar values, "
                                     f"{c.series_values} series{_dropped(c)} ({summary.publish_seconds:.2f}s)"))
        if summary.partial_files is not None:
            left_out = f", {summary.partial_skipped} left out" if summary.partial_skipped else ""
            self.console.print(plain(f"    kept {summary.partial_files} partial file(s){left_out}"
                                     + (f": {summary.partial_error}" if summary.partial_error else "")))
        if outcome.decision is Decision.RETRY:
            self.console.print(plain(f"    {outcome.reason}", "yellow"))

    def backoff(self, seconds_left: float) -> None:
        if seconds_left <= 0:
            self._stop()
        elif self.live_enabled:
            self._update(Text(f"⏳ next attempt in {seconds_left:4.1f}s", style="yellow"))

    def message(self, text: str) -> None:
        self.console.print(plain(f"  {text}", "yellow"))

    def volumes(self, plan: Plan) -> None:
        how = {"namespace": "in a private mount namespace", "in-place": "in place (each folder is its mount path)"}
        if plan.kind not in how:
            return
        self.console.print(plain(f"  volumes  {how[plan.kind]}", "dim"))
        for bind in plan.binds:
            mode = "read-only" if bind.read_only else "read-write"
            self.console.print(plain(f"    {bind.volume}: {bind.host} at {bind.path} ({mode})", "dim"))
        for bind in plan.unenforced:
            self.message(f"{bind.field} ({bind.volume}): read-only is not enforced: {bind.path} stays writable "
                         "without a mount namespace")


def _dropped(counts: IngestCounts) -> str:
    """``, N items dropped or made missing`` when the compat reader did so, else nothing."""
    return f", {counts.dropped} items dropped or stored as missing" if counts.dropped else ""


def print_summary(console: Console, result: LocalRunResult, database_url: str) -> None:
    style = PHASE_STYLE.get(result.phase, "white")
    console.print()
    console.print(line((result.phase, style), " ", (result.name, "bold"),
                       f" after {len(result.attempts)} attempt{'s' if len(result.attempts) != 1 else ''}: "
                       f"{result.message}"))
    table = Table(show_edge=False, header_style="bold")
    for col in ("#", "class", "reason", "decision", "exit", "memory", "peak", "duration", "cpu"):
        table.add_column(col)
    for a in result.attempts:
        t = a.telemetry
        table.add_row(*cells(str(a.number), a.failure_class or "-", a.reason or "-", a.decision or "-",
                             "-" if a.exit_code is None else a.exit_code, a.resources.memory if a.resources else "-",
                             mib(t.peak_memory_bytes), format_duration(t.duration_seconds or 0),
                             f"{t.cpu_seconds or 0:.1f}s"))
    if result.attempts:
        console.print(table)
    if result.summary is not None:
        s = result.summary
        console.print(plain(f"  outputs  {result.output_location}"))
        if s.log_location:
            console.print(plain(f"  log      {s.log_location}"))
        if s.ingested:
            console.print(plain(f"  database {mask_url(database_url)}: execution id {result.execution_id}, "
                                f"{s.counts.outputs} outputs, {s.counts.scalar_values} scalar values, "
                                f"{s.counts.series_values} series{_dropped(s.counts)}"))
    console.print(plain(f"  details  diagnostic-operator executions show {result.name}"))


def print_detail(console: Console, detail: ExecutionDetail) -> None:
    """`executions show`: what happened, at a glance."""
    status = detail.status()
    style = PHASE_STYLE.get(status.phase, "white")
    group = detail.group
    console.print(line((f"{detail.namespace}/{detail.name}", "bold"), f" (id {detail.id}, uid {detail.uid[:8]})  ",
                       (status.phase, style),
                       f"  {status.failure_class} / {status.reason}" if status.failure_class else ""))
    console.print(plain(f"  diagnostic {group.provider}/{group.slug} v{group.diagnostic_version}, group "
                        f"{group.group_key} (dirty: {'yes' if group.dirty else 'no'})"))
    if status.message:
        console.print(plain(f"  {status.message}"))
    table = Table(show_edge=False, header_style="bold")
    for col in ("#", "class", "reason", "decision", "exit", "memory", "peak", "source", "duration", "cpu"):
        table.add_column(col)
    for a in status.attempts:
        t = a.telemetry
        table.add_row(*cells(str(a.number), a.failure_class or "-", a.reason or "-", a.decision or "-",
                             "-" if a.exit_code is None else a.exit_code, a.resources.memory if a.resources else "-",
                             mib(t.peak_memory_bytes), t.peak_memory_source or "-",
                             format_duration(t.duration_seconds or 0), f"{t.cpu_seconds or 0:.1f}s"))
    if status.attempts:
        console.print(table)
    c = status.ingested
    console.print(plain(f"  ingested {c.outputs} outputs, {c.scalar_values} scalar values, "
                        f"{c.series_values} series"))
    if status.output_location:
        console.print(plain(f"  outputs  {status.output_location}"))
