"""The real S3 test service: moto's HTTP server in a separate process, on 127.0.0.1.

Reusable pieces (benchmarks, end-to-end and Kubernetes tests use them too):

* ``start_s3_server(port=None, host="127.0.0.1") -> S3Server``: start ``python -m moto.server`` on a free
  (or given) port, wait until it answers; ``S3Server.stop()`` ends it. ``S3Server`` is a context manager.
* ``S3Server.env``: the variables a client needs (endpoint, fake keys, region): pass them to ``open_store``
  or to a subprocess's environment. They are never written into ``os.environ`` here.
* ``S3Server.create_bucket(name=None) -> str`` / ``delete_bucket(name)``; ``client()`` gives a boto3 client.
* ``python -m tests.services.s3 --port 9000`` (or the ``tests/services/s3-server`` script) runs the server in
  the foreground until interrupted and prints the env to use.

Pytest fixtures (this module is a plugin listed in tests/conftest.py):

* ``s3_server`` (session): the running server.
* ``s3_store_url`` (function): a fresh bucket; an ``S3Target(url="s3://<bucket>/<prefix>", env={...})``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.helpers import free_port

HOST = "127.0.0.1"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            resp.read()
        return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@dataclass
class S3Server:
    host: str
    port: int
    process: subprocess.Popen[bytes] | None
    log_path: Path | None = None
    _buckets: set[str] = field(default_factory=set)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Fake credentials, region and endpoint for this server (both our override and boto3's own)."""
        return {
            **FAKE_ENV,
            "DIAGNOSTIC_OPERATOR_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
        }

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server (path-style). ``config`` goes into botocore's Config."""
        cfg = Config(s3={"addressing_style": "path"}, **config)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=FAKE_ENV["AWS_REGION"],
            aws_access_key_id=FAKE_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
            config=cfg,
        )

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        self._buckets.add(name)
        return name

    def delete_bucket(self, name: str) -> None:
        """Delete a bucket and everything in it (moto keeps objects in memory: free them)."""
        client = self.client()
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objs:
                client.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for up in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        client.delete_bucket(Bucket=name)
        self._buckets.discard(name)

    def reset(self) -> None:
        """Drop all state (every bucket) via moto's reset API."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
        self._buckets.clear()

    def alive(self) -> bool:
        return (self.process is None or self.process.poll() is None) and _answers(self.endpoint_url)

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Run moto in a child that asks the kernel for SIGTERM when its parent goes away (Linux PR_SET_PDEATHSIG),
# so a killed test run does not leave a server behind. Done in the child after exec (no preexec_fn, which
# is unsafe in a threaded parent). Note: the signal follows the *thread* that started the server.
_LAUNCHER = """
import ctypes, os, runpy, signal, sys
if sys.platform.startswith("linux"):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
        if os.getppid() != int(sys.argv[1]):
            sys.exit(0)
    except Exception:
        pass
sys.argv = ["moto.server"] + sys.argv[2:]
runpy.run_module("moto.server", run_name="__main__", alter_sys=True)
"""


def server_command(port: int, host: str = HOST, python: str | None = None, *,
                   die_with_parent: bool = True) -> list[str]:
    args = ["-H", host, "-p", str(port)]
    if die_with_parent:
        return [python or sys.executable, "-c", _LAUNCHER, str(os.getpid()), *args]
    return [python or sys.executable, "-m", "moto.server", *args]


def start_s3_server(port: int | None = None, *, host: str = HOST, timeout: float = 30.0,
                    log_path: Path | None = None, attempts: int = 3,
                    die_with_parent: bool = True) -> S3Server:
    """Start moto's S3 server as a child process and wait until it answers HTTP. With ``port=None`` a free
    port is chosen (retried if another process grabs it first). Request logs go to ``log_path`` (default:
    discarded, which also keeps the server fast). With ``die_with_parent`` (Linux) the server gets SIGTERM
    when the thread that started it ends: start it from a long-lived thread (the main one)."""
    last_error = ""
    for _ in range(attempts if port is None else 1):
        chosen = port or free_port(host)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(FAKE_ENV)
        env["PYTHONUNBUFFERED"] = "1"
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(server_command(chosen, host, die_with_parent=die_with_parent),
                                    stdout=log, stderr=log, env=env, stdin=subprocess.DEVNULL)
        finally:
            if log_path and not isinstance(log, int):
                log.close()
        server = S3Server(host=host, port=chosen, process=proc, log_path=log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_error = f"moto server exited with {proc.returncode} on port {chosen}"
                break
            if _answers(server.endpoint_url):
                return server
            time.sleep(0.05)
        else:
            server.stop()
            last_error = f"moto server did not answer on {server.endpoint_url} within {timeout:.0f}s"
    raise RuntimeError(last_error + (f" (log: {log_path})" if log_path else ""))


@contextlib.contextmanager
def running_s3_server(port: int | None = None, **kwargs: Any) -> Iterator[S3Server]:
    server = start_s3_server(port, **kwargs)
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class S3Target:
    """A fresh bucket on the test server: the store URL and the environment a client needs."""

    url: str
    env: Mapping[str, str]
    bucket: str
    prefix: str
    server: S3Server

    def __str__(self) -> str:
        return self.url


# -- pytest fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    log = tmp_path_factory.mktemp("moto") / "moto-server.log"
    # the cluster layer: on the node's address, which this machine and the Pods on the Pod network both reach
    server = start_s3_server(log_path=log, host=os.environ.get("DIAGNOSTIC_OPERATOR_TEST_SERVICE_HOST") or HOST)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_store_url(s3_server: S3Server) -> Iterator[S3Target]:
    bucket = s3_server.create_bucket()
    prefix = f"run-{uuid.uuid4().hex[:8]}"
    yield S3Target(url=f"s3://{bucket}/{prefix}", env=dict(s3_server.env), bucket=bucket, prefix=prefix,
                   server=s3_server)
    with contextlib.suppress(Exception):
        s3_server.delete_bucket(bucket)


# -- foreground script -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the moto S3 test server in the foreground.")
    parser.add_argument("--port", "-p", type=int, default=9000)
    parser.add_argument("--host", "-H", default=HOST, help="bind address (default 127.0.0.1)")
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket (repeatable)")
    args = parser.parse_args(argv)
    server = start_s3_server(args.port, host=args.host)
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        for bucket in args.bucket:
            server.create_bucket(bucket)
        print(f"moto S3 server on {server.endpoint_url} (pid {server.process.pid if server.process else '?'})",
              flush=True)
        for key, value in server.env.items():
            print(f"export {key}={value}", flush=True)
        while not stop:
            if server.process is not None and server.process.poll() is not None:
                print(f"moto server exited with {server.process.returncode}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
