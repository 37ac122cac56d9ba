"""What is known about how one attempt ended: the input of classification.

Transports fill this from what they can see. The local transport knows the exit record, the
publish outcome and the log; the Kubernetes transport adds the runner container's state, the Pod's
phase, reason and conditions, and the sidecar's summary. Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from diagnostic_operator.contracts.exit_record import ExitRecord
from diagnostic_operator.contracts.publish_summary import PublishSummary

# Waiting reasons of a container that will not start without someone changing something.
CONFIGURATION_WAITING_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
     "CreateContainerError", "ErrImageNeverPull", "RunContainerError"}
)
# Waiting reasons of a container on its normal way to start (the init container runs, the image is unpacked):
# nothing to warn about, and the pending timeout does not apply.
STARTING_WAITING_REASONS = frozenset({"ContainerCreating", "PodInitializing"})
# Terminated reasons meaning the container never ran the command.
START_FAILURE_REASONS = frozenset({"StartError", "ContainerCannotRun"})
# Conditions/reasons that mean the platform took the Pod away.
INFRASTRUCTURE_POD_REASONS = frozenset({"Evicted", "Preempting", "NodeLost", "NodeShutdown", "Terminated",
                                        "UnexpectedAdmissionError", "NodeAffinity", "OutOfcpu",
                                        "OutOfmemory", "OutOfpods"})
# What programs print when an allocation fails under RLIMIT_AS instead of being killed.
ALLOCATION_FAILURE_MARKERS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory",
                              "out of memory", "Out of memory")


@dataclass(frozen=True, slots=True)
class ContainerEnd:
    """The runner container's terminated state as Kubernetes reports it."""

    reason: str | None = None  # OOMKilled, Error, Completed, ContainerStatusUnknown, StartError, …
    exit_code: int | None = None
    signal: int | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What the publish + ingest step reports (locally, or as the sidecar's summary)."""

    log_published: bool = True
    ingested: bool = False
    bundle_error: str | None = None          # results missing or invalid: the diagnostic's fault
    infrastructure_error: str | None = None  # database or store unreachable after retries


def publish_outcome(summary: PublishSummary) -> PublishOutcome:
    """What a publish summary says of the publish step (an empty error text is no error)."""
    return PublishOutcome(log_published=summary.log_published, ingested=summary.ingested,
                          bundle_error=summary.bundle_error or None,
                          infrastructure_error=summary.infrastructure_error or None)


@dataclass(frozen=True, slots=True)
class Evidence:
    exit_record: ExitRecord | None = None
    runner: ContainerEnd | None = None
    pod_phase: str | None = None        # Pending, Running, Succeeded, Failed, Unknown
    pod_reason: str | None = None       # Evicted, DeadlineExceeded, …
    pod_message: str | None = None
    disruption: str | None = None       # reason of a DisruptionTarget=True condition
    pod_missing: bool = False           # the attempt's Pod (or Job) vanished
    waiting_reason: str | None = None   # the runner's waiting reason while Pending
    waiting_message: str | None = None
    pending_seconds: float = 0.0        # how long the Pod has waited so far
    unschedulable: bool = False         # PodScheduled=False/Unschedulable
    publish: PublishOutcome | None = None
    log_tail: str | None = None         # last part of out.log, for allocation-failure markers
    rlimit_memory: bool = False         # the limit was RLIMIT_AS, so OOM shows as allocation errors
    cancelled: bool = False
