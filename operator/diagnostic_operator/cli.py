"""The ``diagnostic-operator`` command."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from diagnostic_operator import __version__
from diagnostic_operator.manifest import ManifestError, load_manifests
from diagnostic_operator.plain import cells, line, plain
from diagnostic_operator.settings import DATABASE_ENV, STORE_ENV, Settings, mask_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from diagnostic_operator.db.queries import ExecutionDetail, ExecutionSummary

app = typer.Typer(
    name="diagnostic-operator",
    help=(
        "Run scientific diagnostics (CMEC / Climate-REF style), classify how they ended, retry what deserves "
        "a retry, and publish every result to object storage and a database.\n\n"
        "Locally (no cluster): `diagnostic-operator run MANIFEST.yaml` runs the manifest's command on this "
        "machine, with a SQLite file and a local folder as the defaults. In a cluster the same "
        "DiagnosticExecution manifest is applied with kubectl and the operator runs it as a Job."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
executions_app = typer.Typer(help="Read executions from the database.", no_args_is_help=True)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
results_app = typer.Typer(help="Check a diagnostic's result files.", no_args_is_help=True)
app.add_typer(executions_app, name="executions")
app.add_typer(db_app, name="db")
app.add_typer(results_app, name="results")

# Markup off: what these consoles print quotes manifests, logs, databases and files (diagnostic_operator.plain);
# styles are given as rich Text.
console = Console(width=None if sys.stdout.isatty() else 120, markup=False)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120, markup=False)

DatabaseOpt = Annotated[str | None, typer.Option(
    "--database", help=f"Database URL (sqlite:///file.db or postgresql://…). Env: {DATABASE_ENV}.",
    show_default=False)]
StoreOpt = Annotated[str | None, typer.Option(
    "--store", help=f"Object store URL (a folder, file:///dir or s3://bucket/prefix). Env: {STORE_ENV}.",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary_json(row: ExecutionSummary) -> dict[str, Any]:
    return {"id": row.id, "namespace": row.namespace, "name": row.name, "uid": row.uid,
            "diagnostic": f"{row.provider}/{row.slug}", "groupKey": row.group_key, "phase": str(row.phase),
            "failureClass": str(row.failure_class) if row.failure_class else None, "attempts": row.attempts,
            "dirty": row.dirty, "createdAt": _iso(row.created_at), "finishedAt": _iso(row.finished_at)}


def detail_json(detail: ExecutionDetail) -> dict[str, Any]:
    group = detail.group
    return {"id": detail.id, "namespace": detail.namespace, "name": detail.name, "uid": detail.uid,
            "datasetHash": detail.dataset_hash,
            "group": {"provider": group.provider, "slug": group.slug, "version": group.diagnostic_version,
                      "groupKey": group.group_key, "dirty": group.dirty},
            "status": detail.status().model_dump(by_alias=True, exclude_none=True, mode="json")}


def fail(message: str, code: int = 2) -> typer.Exit:
    # The message is text, never markup: it quotes file names, manifests and configurations.
    err_console.print(line(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _pairs(items: list[str] | None, option: str, example: str) -> dict[str, str]:
    """The KEY=VALUE items of a repeatable option; the first malformed one is refused, naming the option."""
    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"{option} {item!r}: write KEY=VALUE, e.g. {option} {example}")
        pairs[key] = value
    return pairs


def version_callback(value: bool) -> None:
    if value:
        console.print(f"diagnostic-operator {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Global options."""


@app.command()
def run(
    manifest: Annotated[Path, typer.Argument(help="A DiagnosticExecution manifest (YAML).")],
    database: DatabaseOpt = None,
    store: StoreOpt = None,
    memory_limits: Annotated[str, typer.Option(
        help="How to enforce spec.resources.memory: auto (a memory cgroup if possible, else RLIMIT_AS), "
             "cgroup, rlimit, or off.")] = "auto",
    keep_scratch: Annotated[bool, typer.Option(help="Keep the attempt folders after a success.")] = False,
    vocabulary: Annotated[Path | None, typer.Option(
        help="A controlled-vocabulary YAML file (default: the built-in CMIP vocabulary).")] = None,
    output_json: JsonOpt = False,
    progress: Annotated[bool, typer.Option(help="Show a live progress view.")] = True,
    config: Annotated[Path | None, typer.Option(
        help="The site's configuration: the operator's configuration YAML, whose `volumes` (their `local` "
             "folders), `mounts` and `envSources` (their keys taken from this environment) a spec may use. "
             "Env: DIAGNOSTIC_OPERATOR_CONFIG. Default: no volumes, no env sources.",
        show_default=False)] = None,
) -> None:
    """Run a manifest on this machine: shim, classify, retry, publish, ingest. Exit 0 only on success."""
    from diagnostic_operator.db.errors import DatabaseError
    from diagnostic_operator.progress import RichReporter, print_summary
    from diagnostic_operator.results import BundleError, load_vocabulary
    from diagnostic_operator.spec import Phase
    from diagnostic_operator.store.base import StoreError
    from diagnostic_operator.transports.kubernetes.config import ConfigurationError, load_config
    from diagnostic_operator.transports.local import LocalOptions, LocalTransport
    from diagnostic_operator.transports.local_interrupts import INTERRUPTS

    if memory_limits not in ("auto", "cgroup", "rlimit", "off"):
        raise fail(f"--memory-limits: {memory_limits!r} is not one of auto, cgroup, rlimit, off")
    try:
        manifests = load_manifests(manifest)
    except ManifestError as exc:
        raise fail(str(exc)) from None
    try:
        site = load_config(config).site
    except ConfigurationError as exc:
        raise fail(f"site configuration: {exc}") from None
    settings = Settings.resolve(database, store)
    try:
        vocab = load_vocabulary(vocabulary) if vocabulary else None
    except (BundleError, OSError, ValueError) as exc:
        raise fail(f"--vocabulary {vocabulary}: {exc}") from None
    out = err_console if output_json else console
    reporter = RichReporter(out, live=progress)
    transport = LocalTransport(LocalOptions(settings=settings, memory_limits=memory_limits,
                                            keep_scratch=keep_scratch, vocabulary=vocab, site=site), reporter)
    results = []
    try:
        # Ctrl-C, TERM and HUP stop the attempt's processes and record the execution as Cancelled (a default
        # TERM would end ``run`` at once and leave both behind)
        with INTERRUPTS.installed():
            for item in manifests:
                result = transport.run(item)
                results.append(result)
                print_summary(out, result, settings.database_url)
    except DatabaseError as exc:
        raise fail(f"database {mask_url(settings.database_url)}: {exc}", 1) from None
    except StoreError as exc:
        raise fail(f"object store: {exc}", 1) from None
    except KeyboardInterrupt:
        raise fail("interrupted; the attempt was stopped and the execution recorded as Cancelled", 130) from None
    if output_json:
        console.print_json(json.dumps([
            {"name": r.name, "uid": r.uid, "databaseExecutionId": r.execution_id, "phase": str(r.phase),
             "failureClass": str(r.failure_class) if r.failure_class else None, "reason": r.reason,
             "message": r.message, "outputLocation": r.output_location,
             "attempts": [a.model_dump(by_alias=True, exclude_none=True, mode="json") for a in r.attempts]}
            for r in results]))
    if any(r.phase is not Phase.SUCCEEDED for r in results):
        raise typer.Exit(1)


@app.command()
def validate(manifest: Annotated[Path, typer.Argument(help="A DiagnosticExecution manifest (YAML).")]) -> None:
    """Check a manifest without running it."""
    try:
        items = load_manifests(manifest)
    except ManifestError as exc:
        raise fail(str(exc)) from None
    for item in items:
        console.print(line(("✓", "green"), f" {item.metadata.name}: valid DiagnosticExecution "
                           f"({item.spec.diagnostic.provider}/{item.spec.diagnostic.slug})"))


@app.command("operator")
def run_operator(
    namespace: Annotated[list[str] | None, typer.Option(
        "--namespace", "-n", help="Watch this namespace (repeatable). Default: all namespaces.")] = None,
    database: DatabaseOpt = None,
    store: StoreOpt = None,
    config: Annotated[Path | None, typer.Option(
        help="Operator configuration YAML (image, queues, Pod defaults). Env: DIAGNOSTIC_OPERATOR_CONFIG.")] = None,
    peering: Annotated[str | None, typer.Option(
        help="Kopf peering name: replicas sharing it never run two active operators. Default: standalone.")] = None,
    liveness: Annotated[str | None, typer.Option(
        help="Liveness endpoint, e.g. http://0.0.0.0:8080/healthz.")] = "http://0.0.0.0:8080/healthz",
    api_grace: Annotated[float, typer.Option(
        help="Seconds the API server may stay unreachable before the liveness endpoint fails (and the kubelet "
             "restarts the operator).", min=1.0)] = 120.0,
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port (0 = off).")] = 9090,
    log_format: Annotated[str, typer.Option(
        help="Log lines as json (one object per line, for log collectors), plain or full (for humans).")] = "json",
    verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False,
    gc_tuning: Annotated[bool, typer.Option(
        envvar="DIAGNOSTIC_OPERATOR_GC_TUNING",
        help="Freeze the start-up's objects and collect reference cycles less often (less CPU, shorter pauses: "
             "docs/benchmarks.md); --no-gc-tuning keeps Python's defaults.")] = True,
) -> None:
    """Run the Kubernetes operator: watches DiagnosticExecutions and runs them as Jobs."""
    import kopf

    from diagnostic_operator.transports.kubernetes import collector, metrics
    from diagnostic_operator.transports.kubernetes import operator as kopf_operator
    from diagnostic_operator.transports.kubernetes import peering as active_peer
    from diagnostic_operator.transports.kubernetes.config import ConfigurationError, load_config

    try:
        operator_config = load_config(config)
    except (ConfigurationError, OSError, ValueError) as exc:
        raise fail(f"operator configuration: {exc}") from None
    formats = {"json": kopf.LogFormat.JSON, "plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL}
    if log_format not in formats:
        raise fail(f"--log-format: {log_format!r} is not one of {', '.join(formats)}")
    kopf.configure(verbose=verbose, log_format=formats[log_format])
    kopf_operator.quiet_routine_logs(verbose)
    settings = Settings.resolve(database, store)
    kopf_operator.configure(settings, operator_config, namespaces=namespace or None, api_grace=api_grace)
    if metrics_port:
        metrics.serve(metrics_port)
        active_peer.follow_pause()
    if gc_tuning:
        collector.tune()
    kopf.run(standalone=peering is None, peering_name=peering, namespaces=namespace or [],
             clusterwide=not namespace, liveness_endpoint=liveness)


@app.command("spec-reference")
def spec_reference(
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the spec's field reference (docs/spec.md) generated from the models."""
    from diagnostic_operator.spec_reference import render

    text = render()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@app.command("crd")
def crd(
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Server-side apply the CRD to the cluster (field manager diagnostic-operator, forced) "
                        "with the Pod's service account, and wait until it is Established. The chart's "
                        "pre-install/pre-upgrade hook runs this.")] = False,
    annotate: Annotated[list[str] | None, typer.Option(
        "--annotate", help="With --apply: an annotation KEY=VALUE on the CRD (repeatable), e.g. "
                           "helm.sh/resource-policy=keep.")] = None,
    timeout: Annotated[float, typer.Option(
        help="With --apply: seconds to wait for the CRD to be Established.", min=1.0)] = 60.0,
) -> None:
    """Print the DiagnosticExecution CRD (crds/diagnostic-operator.io_diagnosticexecutions.yaml) generated from
    the models, or apply it to the cluster (--apply)."""
    from diagnostic_operator.crd import build_crd, render_crd

    if apply:
        from diagnostic_operator import incluster

        manifest = build_crd()
        annotations = _pairs(annotate, "--annotate", "helm.sh/resource-policy=keep")
        if annotations:
            manifest["metadata"]["annotations"] = annotations
        name = manifest["metadata"]["name"]
        try:
            applied = incluster.apply_crd(incluster.Client.in_cluster(), manifest, timeout=timeout)
        except incluster.ApiError as exc:
            raise fail(f"applying CustomResourceDefinition {name}: {exc}", code=1) from None
        versions = [v["name"] for v in applied.get("spec", {}).get("versions", [])]
        console.print(f"CustomResourceDefinition {name} applied and Established (versions: {', '.join(versions)}, "
                      f"generation {applied.get('metadata', {}).get('generation')})")
        return
    if annotate:
        raise fail("--annotate needs --apply")
    text = render_crd()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@app.command("selftest-diagnostic")
def selftest_diagnostic(
    folder: Annotated[Path | None, typer.Argument(
        help="Where to write; default: DIAGNOSTIC_OUTPUT_DIR (set by the runner shim).", show_default=False)] = None,
) -> None:
    """The diagnostic of the chart's `helm test`: write minimal valid CMEC bundles (diagnostic.json with one
    scalar value, output.json naming no files)."""
    import os

    from diagnostic_operator import selftest

    target = folder or (Path(os.environ["DIAGNOSTIC_OUTPUT_DIR"]) if os.environ.get("DIAGNOSTIC_OUTPUT_DIR")
                        else None)
    if target is None:
        raise fail("no folder given and DIAGNOSTIC_OUTPUT_DIR is not set")
    for path in selftest.write_bundles(target):
        console.print(f"wrote {path}", highlight=False)


@app.command("selftest")
def selftest_command(
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Where the test execution runs.")],
    image: Annotated[str, typer.Option(help="The product image the test execution runs.")],
    name: Annotated[str | None, typer.Option(
        help="Name of the test execution; default: selftest-<random>.", show_default=False)] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the execution to end.", min=1.0)] = 300.0,
) -> None:
    """The chart's `helm test`: create a tiny DiagnosticExecution (this image writing minimal CMEC bundles) with
    the Pod's service account, wait until it ends, delete it if it succeeded. Exit 0 only if it succeeded."""
    import secrets

    from diagnostic_operator import incluster, selftest

    name = name or f"selftest-{secrets.token_hex(3)}"
    try:
        status = selftest.run(incluster.Client.in_cluster(), namespace, name, image, timeout,
                              say=lambda line: console.print(line, highlight=False))
    except incluster.ApiError as exc:
        raise fail(f"selftest: {exc}", code=1) from None
    if status.get("phase") != "Succeeded":
        detail = " ".join(str(status.get(k) or "") for k in ("failureClass", "reason", "message")).strip()
        raise fail(f"selftest: {namespace}/{name} ended {status.get('phase')}: {detail} (kept for "
                   f"kubectl -n {namespace} describe diagnosticexecution {name})", code=1)
    console.print(f"selftest passed: {namespace}/{name} succeeded, ingested {status.get('ingested')}",
                  highlight=False)


@app.command("install-shim")
def install_shim(
    bin_dir: Annotated[Path, typer.Argument(help="Where shim.sh goes (the Pod's do-bin volume).")],
    output_dir: Annotated[Path, typer.Argument(help="The output folder to create, mode 0777 (do-output).")],
) -> None:
    """Init container of an execution Pod: copy the runner shim into BIN_DIR and create OUTPUT_DIR."""
    from diagnostic_operator.runtime.install_shim import run as run_install

    raise typer.Exit(run_install(bin_dir, output_dir, sys.stdout, sys.stderr))


@app.command("sidecar")
def sidecar(
    max_wait: Annotated[float | None, typer.Option(
        "--max-wait", min=0, help="Publish after this many seconds even if the runner has not ended.",
        show_default=False)] = None,
    start_timeout: Annotated[float | None, typer.Option(
        "--start-timeout", min=0, help="Seconds without any sign of the runner after which it counts as ended "
                                       "(default 120, or 5 with DIAGNOSTIC_RUNNER_SHIM=false).",
        show_default=False)] = None,
) -> None:
    """Ingest sidecar of an execution Pod: wait for the runner, publish + ingest, write the summary to the
    termination log. Settings come from the environment (docs/sidecar.md). Exit 0 published, 1 database or
    store unreachable, 2 usage error."""
    from diagnostic_operator.runtime.sidecar import SidecarOptions
    from diagnostic_operator.runtime.sidecar import run as run_sidecar

    raise typer.Exit(run_sidecar(options=SidecarOptions(max_wait=max_wait, start_timeout=start_timeout)))


@results_app.command("validate")
def results_validate(
    folder: Annotated[Path, typer.Argument(help="A diagnostic's output folder.")],
    vocabulary: Annotated[Path | None, typer.Option(help="Controlled-vocabulary YAML.")] = None,
    mode: Annotated[str, typer.Option(help="Vocabulary checking: off, warn or fail.")] = "warn",
    compat: Annotated[str, typer.Option(help="Dialect: none (the strict reader) or climate-ref.")] = "none",
) -> None:
    """Parse and validate diagnostic.json, output.json and series.json in a folder; print the row counts and,
    with --compat climate-ref, what was dropped or stored as missing, counted by kind."""
    from diagnostic_operator.results import BundleError, load_results, load_vocabulary
    from diagnostic_operator.results.compat import describe
    from diagnostic_operator.spec import CompatMode, ResultFiles, VocabularyMode

    try:
        files = ResultFiles(controlled_vocabulary=VocabularyMode(mode))
    except ValueError:
        raise fail(f"--mode: {mode!r} is not one of off, warn, fail") from None
    try:
        files = files.model_copy(update={"compat": CompatMode(compat)})
    except ValueError:
        raise fail(f"--compat: {compat!r} is not one of {', '.join(CompatMode)}") from None
    try:
        vocab = load_vocabulary(vocabulary) if vocabulary else None
        result = load_results(folder, files, None, vocab)
    except (BundleError, OSError, ValueError) as exc:
        raise fail(str(exc), 1) from None
    # Keys, values and file names in these texts come from the files: never read them as markup.
    for warning in result.warnings:
        console.print(line(("warning:", "yellow"), " ", warning))
    console.print(line(("✓", "green"), f" {len(result.scalars)} scalar values, {len(result.series)} "
                                f"series, {len(result.outputs)} outputs"))
    if result.dropped:
        total = result.dropped_total
        console.print(plain(f"{total} item{'' if total == 1 else 's'} not stored as written "
                           f"({files.compat} compat mode):"))
        for kind, n, meaning in describe(result.dropped):
            console.print(plain(f"  {n:>8}  {kind}: {meaning}"))


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOpt = None) -> None:
    """Apply database migrations (safe to run again)."""
    from diagnostic_operator.db.engine import upgrade
    from diagnostic_operator.db.errors import DatabaseError

    settings = Settings.resolve(database)
    try:
        upgrade(settings.database_url)
    except DatabaseError as exc:
        raise fail(str(exc)) from None
    console.print(line(("✓", "green"), f" {mask_url(settings.database_url)} is at the latest schema"))


def _reading(database_url: str, reap: bool = True) -> Engine:
    """The engine of a read-only command: the database must be at this version's schema (it is never
    migrated here). With ``reap``, executions of this host whose ``run`` process is gone are recorded as
    Failed (Infrastructure, RunnerLost) first, and each is reported on stderr."""
    from diagnostic_operator.db.engine import require_current
    from diagnostic_operator.transports import local_runner

    engine = require_current(database_url)
    if reap:
        for lost in local_runner.reap(engine):
            err_console.print(line(("warning:", "yellow"), " ", local_runner.describe(lost)), soft_wrap=True)
    return engine


@executions_app.command("list")
def executions_list(
    database: DatabaseOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    output_json: JsonOpt = False,
) -> None:
    """List executions, newest first."""
    from diagnostic_operator.db import queries
    from diagnostic_operator.db.errors import DatabaseError

    settings = Settings.resolve(database)
    try:
        engine = _reading(settings.database_url)
        rows = queries.list_executions(engine, limit=limit)
    except DatabaseError as exc:
        raise fail(str(exc), 1) from None
    if output_json:
        sys.stdout.write(json.dumps([summary_json(r) for r in rows], indent=2) + "\n")
        return
    table = Table(header_style="bold", show_edge=False)
    for col in ("ID", "NAME", "DIAGNOSTIC", "GROUP", "PHASE", "ATTEMPTS", "CLASS", "DIRTY", "CREATED"):
        table.add_column(col)
    for r in rows:
        data = summary_json(r)
        table.add_row(*cells(data["id"], data["name"], data["diagnostic"], data["groupKey"], data["phase"],
                             data["attempts"], data["failureClass"] or "-", "yes" if r.dirty else "no",
                             r.created_at.strftime("%Y-%m-%d %H:%M:%S")))
    console.print(table)


@executions_app.command("show")
def executions_show(
    ref: Annotated[str, typer.Argument(help="Execution name, namespace/name, uid or database id.")],
    database: DatabaseOpt = None,
    output_json: JsonOpt = False,
) -> None:
    """Show one execution: status (the same fields as the cluster status), attempts and telemetry."""
    from diagnostic_operator.db import queries
    from diagnostic_operator.db.errors import DatabaseError

    settings = Settings.resolve(database)
    try:
        detail = queries.get_execution(_reading(settings.database_url), ref)
    except DatabaseError as exc:
        raise fail(str(exc), 1) from None
    if detail is None:
        raise fail(f"no execution {ref!r} in {mask_url(settings.database_url)}", 1)
    data = detail_json(detail)
    if output_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    from diagnostic_operator.progress import print_detail

    print_detail(console, detail)


@executions_app.command("values")
def executions_values(
    ref: Annotated[str, typer.Argument(help="Execution name, namespace/name, uid or database id.")],
    where: Annotated[list[str] | None, typer.Option(
        "--where", help="Only values whose dimensions include NAME=VALUE (repeatable).")] = None,
    database: DatabaseOpt = None,
    output_json: JsonOpt = False,
) -> None:
    """Print an execution's scalar values from the database, filtered by dimension."""
    from diagnostic_operator.db import queries
    from diagnostic_operator.db.errors import DatabaseError

    filters = _pairs(where, "--where", "region=Tropics")
    settings = Settings.resolve(database)
    try:
        engine = _reading(settings.database_url, reap=False)
        detail = queries.get_execution(engine, ref)
        if detail is None:
            raise fail(f"no execution {ref!r} in {mask_url(settings.database_url)}", 1)
        rows = queries.query_scalars(engine, detail.id, filters or None)
    except DatabaseError as exc:
        raise fail(str(exc), 1) from None
    if output_json:
        sys.stdout.write(json.dumps([{"dimensions": r.dimensions, "value": r.value, "kind": r.kind,
                                      "attributes": r.attributes} for r in rows], indent=2) + "\n")
        return
    names = sorted({k for r in rows for k in r.dimensions})
    table = Table(header_style="bold", show_edge=False,
                  title=plain(f"{detail.name}: {len(rows)} scalar values" + (f" where {filters}" if filters else "")))
    for name in names:
        table.add_column(plain(name))
    table.add_column("value", justify="right")
    for r in rows:
        table.add_row(*cells(*[r.dimensions.get(n, "") for n in names],
                             "NaN" if r.value is None else f"{r.value:.4g}"))
    console.print(table)


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
