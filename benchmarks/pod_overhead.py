"""What the execution Pod's runtime costs: a no-op Pod bare vs with the init container, the shim and the sidecar.

On the test cluster's REAL node (tests/cluster/up; images from ``images/build --load``), alternating, N each:

  (a) bare: one container running ``true`` (the example image), nothing else;
  (b) full: the Pod ``build_job`` makes for a spec whose command is ``true``: the install-shim init container,
      the runner ``/bin/sh /do/bin/shim.sh ... -- true`` and the ingest sidecar, which sees the exit record,
      uploads the log and the record to the S3 test server (moto, on 127.0.0.1 via hostNetwork) and finds no
      results to ingest (``true`` writes none: a bundle error, so the database is never contacted).

Each sample is client-side wall time from just before ``kubectl create`` of the Pod until ``kubectl wait``
(a watch) sees ``phase=Succeeded`` — the same client overhead on both sides. Prints one JSON line with the
medians and their difference; exits 1 when the difference exceeds ``--max-extra`` (3 s) unless ``--no-check``.

    .venv/bin/python benchmarks/pod_overhead.py            # 7 of each
    .venv/bin/python benchmarks/pod_overhead.py --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.cluster.fixtures import (  # noqa: E402
    apply,
    cluster_env,
    kubectl,
    pod_spec,
)
from tests.helpers import site_config  # noqa: E402
from tests.services.s3 import start_s3_server  # noqa: E402

from diagnostic_operator.spec import DiagnosticExecutionSpec  # noqa: E402
from diagnostic_operator.transports.kubernetes.config import OperatorConfig  # noqa: E402
from diagnostic_operator.transports.kubernetes.job import build_job  # noqa: E402

EXAMPLE = "example-diagnostic:0.1"


def full_pod(name: str, namespace: str, store: str) -> dict[str, Any]:
    spec = DiagnosticExecutionSpec.model_validate({
        "diagnostic": {"provider": "bench", "slug": "noop", "version": "1"}, "groupKey": "noop",
        "image": EXAMPLE, "command": ["true"], "resources": {"memory": "128Mi", "cpu": "100m", "wallClock": "1m"}})
    # the operator's own publish grace and init allowance: the Pod as a site with default timings gets it
    config = OperatorConfig.from_mapping(site_config(store, databaseSecret="bench-db", publishGrace="5m",
                                                     initAllowance="1m"))
    job = build_job(namespace=namespace, name=name, uid=str(uuid.uuid4()), spec=spec, attempt=1, resources=spec.resources,
                    config=config)
    template = job["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": template["metadata"]["labels"]},
            "spec": template["spec"]}


def bare_pod(name: str) -> dict[str, Any]:
    spec = pod_spec(EXAMPLE, command=["true"], node="real")
    spec["containers"][0]["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"},
                                          "limits": {"memory": "128Mi"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def sample(pod: dict[str, Any], namespace: str) -> float:
    name = pod["metadata"]["name"]
    t0 = time.monotonic()
    kubectl("create", "-f", "-", namespace=namespace, input=json.dumps(pod))
    subprocess.run(["kubectl", "wait", "--for=jsonpath={.status.phase}=Succeeded", f"pod/{name}", "-n", namespace,
                    "--timeout=180s"], check=True, capture_output=True, env=cluster_env())
    seconds = time.monotonic() - t0
    kubectl("delete", "pod", name, "--wait=false", namespace=namespace)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--max-extra", type=float, default=3.0)
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--no-build", action="store_true", help="the images are loaded already")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run([str(ROOT / "images" / "build"), "--load"], check=True, env=cluster_env(),
                       stdout=subprocess.DEVNULL)
    namespace = f"bench-pod-overhead-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", namespace)
    server = start_s3_server()
    try:
        bucket = server.create_bucket()
        secret = {"DIAGNOSTIC_OPERATOR_DATABASE_URL": "postgresql://bench@127.0.0.1:1/unused", **server.env}
        apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bench-db"}, "stringData": secret},
              namespace=namespace)
        for _ in range(60):  # the namespace's default ServiceAccount comes from the controller-manager
            if kubectl("get", "serviceaccount", "default", namespace=namespace, check=False):
                break
            time.sleep(0.5)
        sample(bare_pod("warm-bare"), namespace)  # first runs pay for image and page-cache warm-up
        sample(full_pod("warm-full", namespace, f"s3://{bucket}/bench"), namespace)
        bare: list[float] = []
        full: list[float] = []
        for i in range(args.repeat):
            bare.append(sample(bare_pod(f"bare-{i}"), namespace))
            full.append(sample(full_pod(f"full-{i}", namespace, f"s3://{bucket}/bench"), namespace))
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        server.stop()
    result = {
        "benchmark": "pod_overhead", "repeat": args.repeat,
        "bareMedianSeconds": round(statistics.median(bare), 2), "fullMedianSeconds": round(statistics.median(full), 2),
        "extraSeconds": round(statistics.median(full) - statistics.median(bare), 2),
        "bare": [round(x, 2) for x in bare], "full": [round(x, 2) for x in full], "maxExtraSeconds": args.max_extra,
    }
    print(json.dumps(result))
    return 0 if args.no_check or result["extraSeconds"] <= args.max_extra else 1


if __name__ == "__main__":
    sys.exit(main())
