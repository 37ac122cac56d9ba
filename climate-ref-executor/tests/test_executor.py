"""``KubernetesExecutor.run``/``poll``/``join`` and ``collect`` on a real Climate-REF SQLite database.

The Kubernetes API is an in-memory ``FakeDxApi`` (the test sets the statuses the operator would);
Climate-REF, its database and its result handling are real.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from climate_ref.config import Config
from climate_ref.database import Database
from climate_ref.models import Execution
from climate_ref.models.diagnostic import Diagnostic
from climate_ref.models.execution import ExecutionGroup
from climate_ref.models.provider import Provider
from climate_ref_core.datasets import ExecutionDatasetCollection
from climate_ref_core.diagnostics import ExecutionDefinition, ExecutionResult
from climate_ref_core.resources import ResourceUsage

from diagnostic_operator_climate_ref.collect import collect
from diagnostic_operator_climate_ref.executor import KubernetesExecutor
from diagnostic_operator_climate_ref.mapping import ANNOTATION_COLLECTED
from diagnostic_operator_climate_ref.outcome import Action, FailureReason, Outcome
from diagnostic_operator_climate_ref.wire import read_definition, write_result

FRAGMENT = "example/global-mean-timeseries/key1/1"
GIB = 1024**3


class FakeDxApi:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.creates = 0

    def create(self, manifest: dict[str, Any]) -> None:
        self.creates += 1
        self.objects.setdefault(manifest["metadata"]["name"], {**manifest, "status": {"phase": "Pending"}})

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(name)

    def annotate(self, namespace: str, name: str, key: str, value: str) -> None:
        self.objects[name]["metadata"]["annotations"][key] = value

    def list(self, namespace: str) -> list[dict[str, Any]]:
        return list(self.objects.values())

    def set_status(self, **status: Any) -> None:
        for obj in self.objects.values():
            obj["status"] = status


@pytest.fixture
def site() -> Iterator[Path]:
    # Not under /tmp: the scratch volume's mount path may not be inside the product's own folders.
    root = Path(tempfile.mkdtemp(prefix="ref-executor-unit-", dir="/var/tmp"))
    saved = dict(os.environ)
    os.environ.update({
        "HOME": str(root / "home"), "REF_CONFIGURATION": str(root / "config"),
        "REF_DATABASE_URL": f"sqlite:///{root / 'ref.sqlite'}",
        "REF_SCRATCH_ROOT": str(root / "scratch"), "REF_RESULTS_ROOT": str(root / "results"),
    })
    for name in ("home", "config", "scratch", "results"):
        (root / name).mkdir()
    yield root
    os.environ.clear()
    os.environ.update(saved)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def world(site: Path) -> Iterator[tuple[Config, Database, Execution, ExecutionDefinition]]:
    config = Config.default()
    db = Database.from_config(config, skip_backup=True)
    with db.session.begin():
        provider = Provider(slug="example", name="example", version="0")
        db.session.add(provider)
        db.session.flush()
        diagnostic = Diagnostic(slug="global-mean-timeseries", name="gmt", provider_id=provider.id)
        db.session.add(diagnostic)
        db.session.flush()
        group = ExecutionGroup(diagnostic_id=diagnostic.id, key="key1", dirty=True, selectors={})
        db.session.add(group)
        db.session.flush()
        execution = Execution(output_fragment=FRAGMENT, execution_group_id=group.id, dataset_hash="h")
        db.session.add(execution)
        db.session.flush()
        execution_id = execution.id
    # The solver commits the row and hands ``run`` a detached instance: the same here.
    with db.session.begin():
        detached = db.session.get(Execution, execution_id)
        assert detached is not None
        db.session.expunge(detached)
    definition = ExecutionDefinition(
        diagnostic=None, key="key1", datasets=ExecutionDatasetCollection({}),
        output_directory=config.paths.scratch / FRAGMENT, root_directory=config.paths.scratch,
        diagnostic_full_slug="example/global-mean-timeseries")
    yield config, db, detached, definition
    db.close()


def executor(config: Config, db: Database, api: FakeDxApi) -> KubernetesExecutor:
    return KubernetesExecutor(config=config, database=db, api=api, defaultImage="ref:1", pollSeconds=0.01,
                              scratchVolume={"name": "scratch", "path": str(config.paths.scratch)})


def row(db: Database, execution_id: int) -> tuple[bool | None, str | None, bool]:
    with db.session.begin():
        execution = db.session.get(Execution, execution_id)
        assert execution is not None
        reason = execution.failure_reason
        return (execution.successful, getattr(reason, "value", reason), execution.execution_group.dirty)


def test_run_writes_the_definition_beside_the_output_folder(world: Any) -> None:
    config, db, execution, definition = world
    api = FakeDxApi()
    stale = Path(f"{definition.output_directory}.result.json")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("{}")
    ex = executor(config, db, api)
    ex.run(definition, execution)
    written = Path(f"{definition.output_directory}.definition.json")
    back = read_definition(written)
    assert (back.key, back.output_directory, back.diagnostic_full_slug, back.datasets.hash) == (
        definition.key, definition.output_directory, definition.diagnostic_full_slug, definition.datasets.hash)
    assert not stale.exists()  # an earlier run's result is never taken for this one's
    (obj,) = api.objects.values()
    assert obj["spec"]["command"][-1] == str(written)
    assert obj["spec"]["results"]["directory"] == str(definition.output_directory)
    with pytest.raises(ValueError, match="database row"):
        ex.run(definition, None)


def test_join_waits_then_records_an_oom_without_result(world: Any) -> None:
    config, db, execution, definition = world
    api = FakeDxApi()
    ex = executor(config, db, api)
    ex.run(definition, execution)
    assert ex.poll() == {"Pending": 1}
    with pytest.raises(TimeoutError):
        ex.join(timeout=0.05)
    assert row(db, execution.id) == (None, None, True)
    # the diagnostic started (execute_locally made its folder and log) and was killed
    definition.output_directory.mkdir(parents=True)
    (definition.output_directory / "out.log").write_text("reading 40 GiB...\n")
    api.set_status(phase="Failed", failureClass="OutOfMemory", reason="OOMKilled", message="at the cap",
                   attempts=[{"logLocation": "s3://bucket/ref-1/attempt-3/out.log",
                              "telemetry": {"durationSeconds": 42.0, "cpuSeconds": 40.0, "peakMemoryBytes": 4 * GIB,
                                            "peakMemorySource": "cgroup-v2", "memoryLimitBytes": 4 * GIB}}])
    ex.join(timeout=5)
    assert row(db, execution.id) == (False, "system_error", True)
    with db.session.begin():  # the shim's measurement, as Climate-REF's resource usage of the failure
        recorded = db.session.get(Execution, execution.id)
        assert recorded is not None
        assert (recorded.wall_seconds, recorded.cpu_seconds, recorded.peak_memory_bytes, recorded.memory_source,
                recorded.memory_limit_bytes) == (42.0, 40.0, 4 * GIB, "cgroup", 4 * GIB)
    log = (config.paths.results / FRAGMENT / "out.log").read_text()
    assert "OutOfMemory" in log and "s3://bucket/ref-1/attempt-3/out.log" in log
    (obj,) = api.objects.values()
    assert obj["metadata"]["annotations"][ANNOTATION_COLLECTED] == "true"
    assert ex.submitted == []


def test_never_started_is_not_started(world: Any) -> None:
    """No output folder (the image never pulled, the Pod never ran): Climate-REF's own rule says not_started."""
    config, db, execution, definition = world
    api = FakeDxApi()
    ex = executor(config, db, api)
    ex.run(definition, execution)
    api.set_status(phase="Failed", failureClass="Configuration", reason="ErrImagePull")
    ex.join(timeout=5)
    assert row(db, execution.id) == (False, "not_started", True)


def test_a_failed_result_is_ingested_as_climate_ref_records_it(world: Any) -> None:
    config, db, execution, definition = world
    api = FakeDxApi()
    ex = executor(config, db, api)
    ex.run(definition, execution)
    definition.output_directory.mkdir(parents=True, exist_ok=True)
    (definition.output_directory / "out.log").write_text("diagnostic said no\n")
    write_result(Path(f"{definition.output_directory}.result.json"),
                 ExecutionResult.build_from_failure(definition, retryable=False))
    api.set_status(phase="Failed", failureClass="DiagnosticError", reason="ExitCode3")
    ex.join(timeout=5)
    assert row(db, execution.id) == (False, "diagnostic_error", False)


def test_cancelled_leaves_the_dirty_flag_and_collecting_twice_records_once(world: Any) -> None:
    config, db, execution, definition = world
    with db.session.begin():
        stored = db.session.get(Execution, execution.id)
        assert stored is not None
        stored.execution_group.dirty = False
    result_path = Path(f"{definition.output_directory}.result.json")
    cancelled = Outcome(Action.FAIL, FailureReason.CANCELLED, None, "deleted by hand")
    assert collect(config, db, definition, execution.id, result_path, cancelled, queue_seconds=None)
    assert row(db, execution.id) == (False, "cancelled", False)
    lost = Outcome(Action.FAIL, FailureReason.SYSTEM_ERROR, True, "lost")
    assert not collect(config, db, definition, execution.id, result_path, lost, queue_seconds=None)
    assert row(db, execution.id) == (False, "cancelled", False)


def test_run_starts_where_earlier_solves_left_the_diagnostic(world: Any) -> None:
    """Climate-REF's recorded usage of the diagnostic (its own recommendation: p95 peak x 1.3, whole GiB) and
    an earlier DiagnosticExecution that succeeded with more memory after an OOM size the next one."""
    config, db, execution, definition = world
    with db.session.begin():
        current = db.session.get(Execution, execution.id)
        assert current is not None
        for peak in (2 * GIB, 3 * GIB, int(2.5 * GIB)):
            earlier = Execution(output_fragment=f"{FRAGMENT}-old", execution_group_id=current.execution_group_id,
                                dataset_hash="old")
            db.session.add(earlier)
            earlier.apply_resource_usage(ResourceUsage(
                wall_seconds=900.0, cpu_seconds=850.0, peak_memory_bytes=peak, memory_source="cgroup",
                cgroup_peak_bytes=peak, proc_tree_peak_bytes=None, memory_limit_bytes=4 * GIB, cpu_limit=1.0,
                exclusive=True, context={}), queue_seconds=None)
    api = FakeDxApi()
    executor(config, db, api).run(definition, execution)
    (made,) = api.objects.values()
    # p95 of the peaks (~3 GiB) x 1.3 -> 4 GiB; p95 wall 900 s x 2 -> 30m
    assert made["spec"]["resources"] == {"memory": "4Gi", "cpu": "1", "wallClock": "30m"}

    api = FakeDxApi()
    api.objects["ref-old"] = {
        "metadata": {"name": "ref-old", "creationTimestamp": "2026-12-01T00:00:00Z"},
        "spec": {"diagnostic": {"provider": "example", "slug": "global-mean-timeseries"}},
        "status": {"phase": "Succeeded", "attempts": [{"failureClass": "OutOfMemory", "resources": {"memory": "4Gi"}},
                                                       {"failureClass": "Success", "resources": {"memory": "6Gi"}}]}}
    executor(config, db, api).run(definition, execution)
    made = next(o for name, o in api.objects.items() if name != "ref-old")
    assert made["spec"]["resources"]["memory"] == "6Gi"  # never less than what succeeded after the OOM

    configured = KubernetesExecutor(config=config, database=db, api=FakeDxApi(), defaultImage="ref:1",
                                    scratchVolume={"name": "scratch", "path": str(config.paths.scratch)},
                                    diagnostics={"example/global-mean-timeseries": {"memory": "1Gi"}})
    assert configured.size("example/global-mean-timeseries").sizing.memory == "1Gi"
