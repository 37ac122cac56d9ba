"""The Kubernetes API replaced by subprocesses, for ``executor_roundtrip.py``: each DiagnosticExecution's
command runs at once, on this host, with this Python, as the execution's Pod would run it; its status
says Succeeded (exit 0) or Failed/DiagnosticError, as the operator's classifier says for a plain exit.
Everything on the Climate-REF side is real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from diagnostic_operator_climate_ref.executor import KubernetesExecutor

from diagnostic_operator.spec import DiagnosticExecution


class ProcessDxApi:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def create(self, manifest: dict[str, Any]) -> None:
        DiagnosticExecution.model_validate(manifest)
        meta = manifest["metadata"]
        command = manifest["spec"]["command"]
        done = subprocess.run([sys.executable, *command[1:]], check=False)
        status = ({"phase": "Succeeded", "failureClass": "Success"} if done.returncode == 0 else
                  {"phase": "Failed", "failureClass": "DiagnosticError", "reason": f"ExitCode{done.returncode}"})
        status["exitCode"] = done.returncode
        self.objects[(meta["namespace"], meta["name"])] = {**manifest, "status": status}
        log = os.environ.get("ROUNDTRIP_STATUS_LOG")
        if log:  # what each "Pod" did, for the test to check
            statuses = {name: obj["status"] for (_, name), obj in self.objects.items()}
            with open(log, "w") as fh:
                json.dump(statuses, fh)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((namespace, name))

    def annotate(self, namespace: str, name: str, key: str, value: str) -> None:
        self.objects[(namespace, name)]["metadata"]["annotations"][key] = value

    def list(self, namespace: str) -> list[dict[str, Any]]:
        return [obj for (ns, _), obj in self.objects.items() if ns == namespace]


class ProcessKubernetesExecutor(KubernetesExecutor):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(api=ProcessDxApi(), **kwargs)
