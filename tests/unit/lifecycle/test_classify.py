"""Every row of the failure-class table of lifecycle.md, as evidence → class."""

import pytest

from diagnostic_operator.contracts.exit_record import ExitRecord
from diagnostic_operator.lifecycle.classify import classify
from diagnostic_operator.lifecycle.evidence import ContainerEnd, Evidence, PublishOutcome
from diagnostic_operator.spec import FailureClass as FC

INGESTED = PublishOutcome(ingested=True)
BAD_BUNDLE = PublishOutcome(bundle_error="diagnostic.json at RESULTS.x: not a number")
DB_DOWN = PublishOutcome(infrastructure_error="database unreachable after 5 tries")


def rec(**kw: object) -> ExitRecord:
    return ExitRecord.model_validate({"exitCode": 0, **kw})


CASES = [
    # id, evidence, expected class, expected reason
    ("success", Evidence(exit_record=rec(), publish=INGESTED), FC.SUCCESS, "Succeeded"),
    ("success-even-if-pod-evicted-after", Evidence(exit_record=rec(), publish=INGESTED, pod_reason="Evicted"),
     FC.SUCCESS, "Succeeded"),
    ("oom-container-reason", Evidence(runner=ContainerEnd("OOMKilled", 137)), FC.OUT_OF_MEMORY, "OOMKilled"),
    ("oom-exit-record", Evidence(exit_record=rec(exitCode=137, signal=9, oomKills=1)), FC.OUT_OF_MEMORY, "OOMKilled"),
    ("oom-kill-of-child-but-shim-survived", Evidence(exit_record=rec(exitCode=1, oomKills=2), publish=PublishOutcome()),
     FC.OUT_OF_MEMORY, "OOMKilled"),
    ("exit-137-alone-is-only-a-hint", Evidence(exit_record=rec(exitCode=137, signal=9, oomKills=0)),
     FC.DIAGNOSTIC_ERROR, "ExitCode137"),
    ("rlimit-allocation-failure", Evidence(exit_record=rec(exitCode=1), rlimit_memory=True,
                                           log_tail="Traceback...\nMemoryError\n"), FC.OUT_OF_MEMORY, "AllocationFailed"),
    ("memoryerror-text-without-limit-is-a-diagnostic-error",
     Evidence(exit_record=rec(exitCode=1), rlimit_memory=False, log_tail="MemoryError"), FC.DIAGNOSTIC_ERROR, "ExitCode1"),
    ("timeout-shim", Evidence(exit_record=rec(exitCode=143, signal=15, timedOut=True, deadlineSeconds=60)),
     FC.TIMED_OUT, "DeadlineExceeded"),
    ("timeout-pod-deadline", Evidence(runner=ContainerEnd("Error", 137), pod_phase="Failed",
                                      pod_reason="DeadlineExceeded"), FC.TIMED_OUT, "DeadlineExceeded"),
    ("evicted", Evidence(runner=ContainerEnd("Error", 137), pod_phase="Failed", pod_reason="Evicted"),
     FC.INFRASTRUCTURE, "Evicted"),
    ("disruption-target", Evidence(pod_phase="Failed", disruption="PreemptionByScheduler"),
     FC.INFRASTRUCTURE, "DisruptionTarget"),
    ("container-status-unknown", Evidence(runner=ContainerEnd("ContainerStatusUnknown", 137), pod_phase="Failed"),
     FC.INFRASTRUCTURE, "ContainerStatusUnknown"),
    ("pod-vanished", Evidence(pod_missing=True), FC.INFRASTRUCTURE, "PodVanished"),
    ("log-missing-no-record-no-code", Evidence(pod_phase="Failed", runner=ContainerEnd("Error", None)),
     FC.INFRASTRUCTURE, "NoExitRecord"),
    ("sidecar-could-not-reach-db", Evidence(exit_record=rec(), publish=DB_DOWN), FC.INFRASTRUCTURE, "PublishFailed"),
    ("image-pull-past-timeout", Evidence(waiting_reason="ErrImagePull", pending_seconds=700),
     FC.CONFIGURATION, "ErrImagePull"),
    ("image-never-pull", Evidence(waiting_reason="ErrImageNeverPull", pending_seconds=601),
     FC.CONFIGURATION, "ErrImageNeverPull"),
    ("config-error-past-timeout", Evidence(waiting_reason="CreateContainerConfigError", pending_seconds=600),
     FC.CONFIGURATION, "CreateContainerConfigError"),
    ("invalid-image-name", Evidence(waiting_reason="InvalidImageName", pending_seconds=900),
     FC.CONFIGURATION, "InvalidImageName"),
    ("start-error", Evidence(runner=ContainerEnd("StartError", 128, message="exec: no such file")),
     FC.CONFIGURATION, "StartError"),
    ("diagnostic-nonzero", Evidence(exit_record=rec(exitCode=2), publish=PublishOutcome()),
     FC.DIAGNOSTIC_ERROR, "ExitCode2"),
    ("no-shim-bare-command-exit-code", Evidence(runner=ContainerEnd("Error", 5), pod_phase="Failed"),
     FC.DIAGNOSTIC_ERROR, "ExitCode5"),
    ("no-shim-bare-command-oom", Evidence(runner=ContainerEnd("OOMKilled", 137), pod_phase="Failed"),
     FC.OUT_OF_MEMORY, "OOMKilled"),
    ("exit0-invalid-bundle", Evidence(exit_record=rec(), publish=BAD_BUNDLE), FC.DIAGNOSTIC_ERROR, "InvalidResults"),
    ("cancelled", Evidence(cancelled=True, exit_record=rec()), FC.CANCELLED, "Cancelled"),
]


@pytest.mark.parametrize(("evidence", "expected", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify(evidence: Evidence, expected: FC, reason: str) -> None:
    result = classify(evidence, pending_timeout_seconds=600)
    assert result is not None
    assert (result.failure_class, result.reason) == (expected, reason)
    assert result.message


UNDECIDED = [
    ("image-pull-before-timeout", Evidence(waiting_reason="ImagePullBackOff", pending_seconds=30)),
    ("unschedulable-keeps-waiting", Evidence(pod_phase="Pending", unschedulable=True, pending_seconds=9999)),
    ("running", Evidence(pod_phase="Running")),
    ("exit0-waiting-for-sidecar", Evidence(exit_record=rec())),
]


@pytest.mark.parametrize("evidence", [c[1] for c in UNDECIDED], ids=[c[0] for c in UNDECIDED])
def test_not_finished_yet(evidence: Evidence) -> None:
    assert classify(evidence, pending_timeout_seconds=600) is None


def test_oom_message_names_the_limit() -> None:
    result = classify(Evidence(exit_record=rec(exitCode=137, oomKills=1, memoryLimitBytes=256 * 2**20)), 600)
    assert result is not None and "256 MiB" in result.message
