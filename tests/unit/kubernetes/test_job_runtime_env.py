"""The sidecar is told when the runner runs without the shim (no exit record will come)."""

from diagnostic_operator.spec import DiagnosticExecutionSpec
from diagnostic_operator.transports.kubernetes.config import OperatorConfig
from diagnostic_operator.transports.kubernetes.job import build_job


def sidecar_env(shim: bool) -> dict[str, str]:
    spec = DiagnosticExecutionSpec.model_validate({
        "diagnostic": {"provider": "p", "slug": "s"}, "groupKey": "g", "image": "i:1", "command": ["c"],
        "runtime": {"shim": shim}})
    job = build_job(namespace="ns", name="n", uid="u", spec=spec, attempt=1, resources=spec.resources,
                    config=OperatorConfig())
    ingest = next(c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == "ingest")
    return {e["name"]: e.get("value", "") for e in ingest["env"]}


def test_shim_off_is_announced_to_the_sidecar() -> None:
    assert sidecar_env(False)["DIAGNOSTIC_RUNNER_SHIM"] == "false"
    assert "DIAGNOSTIC_RUNNER_SHIM" not in sidecar_env(True)
