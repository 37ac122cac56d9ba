"""Prometheus metrics of the operator (served on the metrics port; the liveness probe is Kopf's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

EXECUTIONS = Gauge("diagnostic_operator_executions", "Executions this operator follows, by phase.", ["phase"])
RECONCILE_SECONDS = Histogram("diagnostic_operator_reconcile_seconds", "Time of one observe-plan-act pass.")
JOBS_CREATED = Counter("diagnostic_operator_jobs_created_total", "Attempt Jobs created.")
ATTEMPTS = Counter("diagnostic_operator_attempts_total", "Finished attempts by failure class.", ["failure_class"])
FINISHED = Counter("diagnostic_operator_executions_finished_total", "Finished executions by phase.", ["phase"])
QUEUE_SECONDS = Histogram("diagnostic_operator_queue_seconds", "Job creation to runner start.",
                          buckets=(1, 5, 15, 30, 60, 300, 900, 3600, float("inf")))
RUN_SECONDS = Histogram("diagnostic_operator_run_seconds", "Runner start to end.",
                        buckets=(5, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, float("inf")))


def serve(port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - a metrics port is meant to be scraped
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
