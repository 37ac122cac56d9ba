"""The operator's per-execution cache of the validated spec and status (``Runtime.validated``): a pass re-uses
the models while the generation and the status's version are the same, validates again when either moves, and
plans on the status this process wrote while the watch has not shown it yet (``Runtime.current_status``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from diagnostic_operator.spec import Phase
from diagnostic_operator.transports.kubernetes.operator import Runtime

SPEC: dict[str, Any] = {
    "diagnostic": {"provider": "example", "slug": "bias"}, "groupKey": "g", "image": "img:1",
    "command": ["run"], "resources": {"memory": "4Gi", "wallClock": "1h"},
}


def runtime() -> Runtime:
    # validated() and current_status() use none of the adapters
    return Runtime(settings=None, config=None, engine=None, api=None)  # type: ignore[arg-type]


def body(generation: int = 1, rv: str = "100", status: dict[str, Any] | None = None,
         spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"uid": "u1", "generation": generation, "resourceVersion": rv},
            "spec": SPEC if spec is None else spec, "status": status or {}}


def test_same_generation_and_version_reuse_the_models() -> None:
    rt = runtime()
    spec1, status1 = rt.validated("u1", body())  # type: ignore[arg-type]
    spec2, status2 = rt.validated("u1", body())  # type: ignore[arg-type]
    assert spec2 is spec1 and status2 is status1


def test_a_new_generation_validates_the_spec_again() -> None:
    rt = runtime()
    spec1, status1 = rt.validated("u1", body())  # type: ignore[arg-type]
    changed = SPEC | {"image": "img:2"}
    spec2, status2 = rt.validated("u1", body(generation=2, spec=changed))  # type: ignore[arg-type]
    assert spec2 is not spec1 and spec2.image == "img:2"
    assert status2 is status1, "the status's version did not move"


def test_a_new_resource_version_validates_the_status_again() -> None:
    rt = runtime()
    spec1, _ = rt.validated("u1", body())  # type: ignore[arg-type]
    spec2, status2 = rt.validated("u1", body(rv="101", status={"phase": "Running", "attempt": 1}))  # type: ignore[arg-type]
    assert spec2 is spec1
    assert status2.phase == Phase.RUNNING and status2.attempt == 1


def test_no_resource_version_is_never_cached() -> None:
    rt = runtime()
    b = body()
    del b["metadata"]["resourceVersion"]
    _, status1 = rt.validated("u1", b)  # type: ignore[arg-type]
    b["status"] = {"phase": "Running", "attempt": 1}
    _, status2 = rt.validated("u1", b)  # type: ignore[arg-type]
    assert status2 is not status1 and status2.phase == Phase.RUNNING


def test_our_newer_write_wins_over_a_lagging_body_then_the_body_catches_up() -> None:
    rt = runtime()
    rt.written["u1"] = (105, {"phase": "Retrying", "attempt": 1})
    _, status = rt.validated("u1", body(rv="100"))  # type: ignore[arg-type]
    assert status.phase == Phase.RETRYING, "the body (100) is older than our write (105)"
    _, status = rt.validated("u1", body(rv="106", status={"phase": "Running", "attempt": 2}))  # type: ignore[arg-type]
    assert status.phase == Phase.RUNNING and status.attempt == 2
    assert "u1" not in rt.written, "once the watch showed a newer version, our write is forgotten"


def test_executions_are_cached_apart() -> None:
    rt = runtime()
    _, s1 = rt.validated("u1", body(status={"phase": "Running", "attempt": 1}))  # type: ignore[arg-type]
    other = body()
    other["metadata"]["uid"] = "u2"
    _, s2 = rt.validated("u2", other)  # type: ignore[arg-type]
    assert s1.phase == Phase.RUNNING and s2.phase == Phase.PENDING


def test_an_invalid_spec_raises_and_caches_nothing() -> None:
    rt = runtime()
    with pytest.raises(ValidationError):
        rt.validated("u1", body(spec=SPEC | {"resources": {"memory": "lots"}}))  # type: ignore[arg-type]
    assert "u1" not in rt.models
