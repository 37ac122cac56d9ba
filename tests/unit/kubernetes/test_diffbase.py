"""No diff-base: Kopf sees every event of an execution as "no change", copies nothing and writes nothing —
safe only because the operator registers no creation, update, resume or field handler (asserted here)."""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from kopf._core.intents import causes

from diagnostic_operator.transports.kubernetes import operator  # noqa: F401  (importing it registers the handlers)
from diagnostic_operator.transports.kubernetes.diffbase import NoDiffBaseStorage


def body(**metadata: Any) -> kopf.Body:
    return kopf.Body({
        "apiVersion": "diagnostic-operator.io/v1alpha1", "kind": "DiagnosticExecution",
        "metadata": {"name": "gmst", "namespace": "science", "uid": "u-1", **metadata},
        "spec": {"image": "example-diagnostic:0.1", "resources": {"memory": "1Gi"}},
        "status": {"phase": "Running"},
    })


def cause_for(raw: kopf.Body, storage: kopf.DiffBaseStorage) -> causes.Reason:
    old, new = storage.fetch(body=raw), storage.build(body=raw)
    cause = causes.detect_changing_cause(
        finalizer="diagnostic-operator.io/finalizer", raw_event={"type": "MODIFIED", "object": dict(raw)},
        body=raw, old=old, new=new, diff=kopf.Diff([]) if old == new else None, resource=None, indices=None,
        logger=None, patch=kopf.Patch(), memo=None)
    return cause.reason


def test_nothing_is_written() -> None:
    patch = kopf.Patch()
    NoDiffBaseStorage().store(body=body(), patch=patch, essence=kopf.BodyEssence({"spec": {"image": "x"}}))
    assert not patch


def test_a_new_object_is_not_a_creation_for_kopf() -> None:
    # Kopf's own storage: CREATE (it would then PATCH the annotation); ours: nothing to do.
    assert cause_for(body(), kopf.AnnotationsDiffBaseStorage(prefix="p")) == causes.Reason.CREATE
    assert cause_for(body(), NoDiffBaseStorage()) == causes.Reason.NOOP


def test_deletion_is_still_seen() -> None:
    deleting = body(deletionTimestamp="2026-11-22T10:00:00Z", finalizers=["diagnostic-operator.io/finalizer"])
    assert cause_for(deleting, NoDiffBaseStorage()) == causes.Reason.DELETE


def test_field_handlers_are_refused() -> None:
    with pytest.raises(ValueError, match="field handlers"):
        NoDiffBaseStorage().build(body=body(), extra_fields=["status.phase"])


def test_the_operator_registers_no_handler_that_needs_a_diff_base() -> None:
    registry = kopf.get_default_registry()
    changing = list(registry._changing._handlers)
    assert changing, "the deletion handler is registered"
    assert {h.reason for h in changing} == {causes.Reason.DELETE}
    assert all(not h.field for h in changing)
