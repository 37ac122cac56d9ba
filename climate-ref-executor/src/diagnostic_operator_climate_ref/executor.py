"""``KubernetesExecutor``: Climate-REF's Executor protocol, one DiagnosticExecution per execution.

``run`` writes the definition on the shared scratch volume and creates the DiagnosticExecution; the
operator runs, sizes, classifies and retries it. ``join`` waits, and records each finished one in
Climate-REF's database with Climate-REF's own functions: the entry point's result through
``handle_execution_result``, a failure without a result as ``outcome.decide`` says.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from climate_ref.config import Config
from climate_ref.database import Database
from climate_ref.models import Execution
from climate_ref_core.diagnostics import ExecutionDefinition
from loguru import logger

from .collect import collect
from .kube import DxApi, LightkubeDxApi
from .mapping import ANNOTATION_COLLECTED, ExecutionFacts, build_manifest, sidecar_paths
from .outcome import Action, decide, phase_counts, queue_seconds
from .settings import ExecutorSettings
from .sizing import Measured, Sized, size, succeeded_after_oom
from .wire import write_definition


def facts_of(definition: ExecutionDefinition, execution_id: int) -> ExecutionFacts:
    provider, slug = definition.diagnostic_full_slug.split("/", 1)
    return ExecutionFacts(
        execution_id=execution_id,
        provider=provider,
        slug=slug,
        version=str(getattr(definition.diagnostic, "version", 1)),
        key=definition.key,
        dataset_hash=definition.datasets.hash,
        output_directory=PurePosixPath(definition.output_directory),
    )


@dataclass
class Submitted:
    definition: ExecutionDefinition
    execution_id: int
    namespace: str
    name: str
    result_path: Path
    submitted_at: float


class KubernetesExecutor:
    """Chosen by ``[executor] executor = "diagnostic_operator_climate_ref.KubernetesExecutor"``."""

    name = "kubernetes"
    # Results reach Climate-REF's database only in join(): `ref solve --no-wait` leaves them on the cluster.
    collects_results_on_join = True

    def __init__(self, *, database: Database | None = None, config: Config | None = None,
                 api: DxApi | None = None, **kwargs: Any) -> None:
        self.settings = ExecutorSettings.model_validate(kwargs)
        self.config = config if config is not None else Config.default()
        if database is None:
            database = Database.from_config(self.config, run_migrations=False)
            weakref.finalize(self, database.close)
        self.database = database
        self._api = api
        self.submitted: list[Submitted] = []
        self._learned: tuple[dict[str, Measured], dict[str, int]] | None = None

    @property
    def api(self) -> DxApi:
        if self._api is None:
            self._api = LightkubeDxApi()
        return self._api

    def run(self, definition: ExecutionDefinition, execution: Execution | None = None) -> None:
        if execution is None or execution.id is None:
            raise ValueError("the Kubernetes executor needs the execution's database row (its id names the object)")
        facts = facts_of(definition, execution.id)
        sized = self.size(f"{facts.provider}/{facts.slug}")
        manifest = build_manifest(facts, self.settings, sized.sizing)
        definition_path, result_path = (Path(p) for p in sidecar_paths(PurePosixPath(definition.output_directory)))
        # A result left by an earlier run of the same folder must not be taken for this one's.
        result_path.unlink(missing_ok=True)
        write_definition(definition_path, definition)
        self.api.create(manifest)
        meta = manifest["metadata"]
        self.submitted.append(Submitted(definition, execution.id, meta["namespace"], meta["name"], result_path,
                                        time.time()))
        resources = manifest["spec"]["resources"]
        logger.info(f"Created DiagnosticExecution {meta['namespace']}/{meta['name']} "
                    f"for {definition.execution_slug()!r} ({sized.source} sizing: memory {resources['memory']}, "
                    f"wall clock {resources['wallClock']})")

    def size(self, diagnostic: str) -> Sized:
        """The starting resources of ``diagnostic`` (sizing.py); what earlier solves measured is read once
        per executor, i.e. once per solve."""
        if self._learned is None:
            self._learned = self._read_history() if self.settings.learning.enabled else ({}, {})
        measured, after_oom = self._learned
        return size(diagnostic, self.settings, measured.get(diagnostic), after_oom.get(diagnostic))

    def _read_history(self) -> tuple[dict[str, Measured], dict[str, int]]:
        from climate_ref.results import ResourceFilter  # noqa: PLC0415
        from climate_ref.results.reader import Reader  # noqa: PLC0415
        from sqlalchemy.orm import Session  # noqa: PLC0415

        # A session of its own: the solver's session may be inside a transaction (or must not be left in one,
        # which collect() begins). Every diagnostic version counts, as in `ref executions resources`.
        with Session(self.database.session.get_bind()) as session:
            profiles = Reader(self.database, session=session).resources.profiles(
                ResourceFilter(include_superseded=True), group_by="diagnostic",
                safety_factor=self.settings.learning.memory_margin)
        measured = {f"{p.provider_slug}/{p.diagnostic_slug}": Measured(p.sample_count, p.recommended_memory_bytes,
                                                                      p.wall_seconds_p95)
                    for p in profiles if p.diagnostic_slug is not None}
        return measured, succeeded_after_oom(self.api.list(self.settings.namespace))

    def poll(self) -> dict[str, int]:
        """Collect every finished execution once; the phase counts of those still running."""
        objects: list[dict[str, Any] | None] = []
        for item in list(self.submitted):
            dx = self.api.get(item.namespace, item.name)
            outcome = decide(dx, item.result_path.exists())
            if outcome.action is Action.WAIT:
                objects.append(dx)
                continue
            collect(self.config, self.database, item.definition, item.execution_id, item.result_path, outcome,
                    queue_seconds=queue_seconds(dx))
            if dx is not None:
                self.api.annotate(item.namespace, item.name, ANNOTATION_COLLECTED, "true")
            self.submitted.remove(item)
        return phase_counts(objects)

    def join(self, timeout: float) -> None:
        """Wait until every submitted execution is recorded, logging counts by phase as they change."""
        deadline = time.monotonic() + timeout
        last: dict[str, int] | None = None
        while True:
            counts = self.poll()
            if not self.submitted:
                return
            if counts != last:
                logger.info(f"{len(self.submitted)} executions on the cluster: "
                            + ", ".join(f"{n} {phase}" for phase, n in counts.items()))
                last = counts
            if time.monotonic() >= deadline:
                # The DiagnosticExecutions go on running; their rows stay in progress until collected.
                raise TimeoutError(f"{len(self.submitted)} executions still running after {timeout:.0f}s")
            time.sleep(min(self.settings.poll_seconds, max(0.0, deadline - time.monotonic())))
