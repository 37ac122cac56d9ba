"""The body of ``examples/cluster-demo`` (run that script: it brings up the cluster and the images first).

Starts PostgreSQL and the S3 server on this machine, runs the operator as a process against the test cluster
(the same site configuration the e2e tests use: execution Pods on the real node with host networking),
applies the example executions into the namespace ``demo`` and prints ``kubectl get dx`` until each has ended.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tests.cluster.fixtures import apply, kubectl
from tests.k8s.operator_harness import (
    TERMINAL,
    OperatorProcess,
    apply_crd,
    release_finalizers,
    site_config,
    write_secret,
)
from tests.services.postgres import start_postgres
from tests.services.s3 import S3Target, start_s3_server

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "demo"
DEFAULT = [ROOT / "examples" / "global-mean-bias.yaml", *sorted((ROOT / "examples" / "failing").glob("*.yaml"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("manifests", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for every execution")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="cluster-demo-"))
    print(f"working folder (logs): {work}")
    postgres = start_postgres()  # its own folder, owned by the postgres service user
    db_url = postgres.create_database("diagnostics")
    s3 = start_s3_server(log_path=work / "s3.log")
    bucket = s3.create_bucket("diagnostics")
    target = S3Target(url=f"s3://{bucket}/demo", env=dict(s3.env), bucket=bucket, prefix="demo", server=s3)
    print(f"database: {db_url}\nstore:    {target.url} (S3 server at {s3.endpoint_url})")

    apply_crd()
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", timeout=180, check=False)
    apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    write_secret(NAMESPACE, db_url, target)
    operator = OperatorProcess(NAMESPACE, db_url, target, work, site_config(target)).start()
    print(f"operator: pid {operator.proc.pid if operator.proc else '?'}, log {work}/operator-1.log")
    names = []
    try:
        for manifest in args.manifests:
            doc = yaml.safe_load(manifest.read_text())
            names.append(doc["metadata"]["name"])
            apply(doc, namespace=NAMESPACE)
        print(f"applied {len(names)} executions; `kubectl get dx -n {NAMESPACE}` every 5 s:\n")
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            table = kubectl("get", "dx", namespace=NAMESPACE)
            print(table, flush=True)
            phases = [i.get("status", {}).get("phase") for i in kubectl("get", "dx", namespace=NAMESPACE,
                                                                        json=True)["items"]]
            if phases and all(p in TERMINAL for p in phases):
                break
            time.sleep(5)
        print(subprocess.run(["diagnostic-operator", "executions", "list", "--database", db_url],
                             capture_output=True, text=True, check=False).stdout)
        print(f"The story of one execution: kubectl describe dx -n {NAMESPACE} {names[0]}")
    finally:
        operator.stop()
        s3.stop()
        postgres.stop()
        release_finalizers(NAMESPACE)  # the operator's finalizer would keep the executions once it is gone
    return 0


if __name__ == "__main__":
    sys.exit(main())
