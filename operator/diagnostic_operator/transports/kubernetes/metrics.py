"""Prometheus metrics of the operator (served on the metrics port; the liveness probe is Kopf's)."""

from __future__ import annotations

import platform

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from diagnostic_operator import __version__

EXECUTIONS = Gauge("diagnostic_operator_executions", "Executions this operator follows, by phase.", ["phase"])
RECONCILE_SECONDS = Histogram("diagnostic_operator_reconcile_seconds", "Time of one observe-plan-act pass.")
JOBS_CREATED = Counter("diagnostic_operator_jobs_created_total", "Attempt Jobs created.")
ATTEMPTS = Counter("diagnostic_operator_attempts_total", "Finished attempts by failure class.", ["failure_class"])
FINISHED = Counter("diagnostic_operator_executions_finished_total", "Finished executions by phase.", ["phase"])
QUEUE_SECONDS = Histogram("diagnostic_operator_queue_seconds", "Job creation to runner start.",
                          buckets=(1, 5, 15, 30, 60, 300, 900, 3600, float("inf")))
RUN_SECONDS = Histogram("diagnostic_operator_run_seconds", "Runner start to end.",
                        buckets=(5, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, float("inf")))

FAILED_CALLS = Counter("diagnostic_operator_failed_calls_total",
                       "Failed calls by target (api, database, store, network) and kind (HTTP status or error type).",
                       ["target", "kind"])
SPECS_REFUSED = Counter("diagnostic_operator_specs_refused_total",
                        "Executions refused as class Configuration, by why: invalid-spec (the models refuse what "
                        "the API server took) or not-covered (the site's configuration lacks what the spec asks).",
                        ["why"])
ACTIVE_PEER = Gauge("diagnostic_operator_active_peer",
                    "1 while this replica handles executions, 0 while Kopf peering pauses it in favour of another "
                    "replica (or before it has started watching).")
BUILD_INFO = Gauge("diagnostic_operator_build_info", "Always 1; the labels say which build runs.",
                   ["version", "python"])

#: Error types by target. Checked by name along the type's MRO so this module imports none of the libraries.
_TARGETS = (("database", ("DatabaseError", "SQLAlchemyError")), ("store", ("StoreError",)),
            ("api", ("APIError", "ApiError")), ("network", ("ClientError", "TimeoutError", "OSError")))


def failure_labels(exc: BaseException) -> tuple[str, str]:
    """(target, kind) of a failed call: an API error's kind is its HTTP status, others their type's name."""
    names = [cls.__name__ for cls in type(exc).__mro__]
    for target, known in _TARGETS:
        if any(name in known for name in names):
            status = getattr(exc, "status", None) if target == "api" else None
            return target, str(status) if isinstance(status, int) else type(exc).__name__
    return "other", type(exc).__name__


def count_failure(exc: BaseException) -> None:
    FAILED_CALLS.labels(*failure_labels(exc)).inc()


def serve(port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - a metrics port is meant to be scraped
    BUILD_INFO.labels(version=__version__, python=platform.python_version()).set(1)
    start_http_server(port, addr=address)


class PhaseTracker:
    """Keeps ``EXECUTIONS`` (executions by phase) up to date, one change at a time (no scan per write)."""

    def __init__(self) -> None:
        self._phases: dict[str, str] = {}

    def set(self, uid: str, phase: str) -> None:
        old = self._phases.get(uid)
        if old == phase:
            return
        if old is not None:
            EXECUTIONS.labels(phase=old).dec()
        self._phases[uid] = phase
        EXECUTIONS.labels(phase=phase).inc()

    def forget(self, uid: str) -> None:
        old = self._phases.pop(uid, None)
        if old is not None:
            EXECUTIONS.labels(phase=old).dec()
