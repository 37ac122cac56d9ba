"""The standard-library API client of the chart's hooks (``crd --apply``, ``selftest``) against a local HTTPS stub
that checks what a real API server checks for these calls: the bearer token, the apply content type, the field
manager and force, the CRD's name in the path."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from diagnostic_operator import incluster
from diagnostic_operator.cli import app
from diagnostic_operator.crd import CRD_NAME, build_crd

TOKEN = "test-token"


class FakeApi:
    """Server state: CRDs by name, how many GETs until a CRD reports Established, the requests seen."""

    def __init__(self) -> None:
        self.crds: dict[str, dict[str, Any]] = {}
        self.gets_until_established = 2
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.fail_apply: tuple[int, dict[str, Any]] | None = None


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _common(self) -> tuple[str, dict[str, list[str]], bytes] | None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            api.requests.append((self.command, self.path, dict(self.headers), body))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"kind": "Status", "message": "Unauthorized"})
                return None
            url = urllib.parse.urlsplit(self.path)
            return url.path, urllib.parse.parse_qs(url.query), body

        def do_PATCH(self) -> None:
            parsed = self._common()
            if parsed is None:
                return
            path, query, body = parsed
            if api.fail_apply:
                self._send(*api.fail_apply)
                return
            assert self.headers["Content-Type"] == "application/apply-patch+yaml"
            assert query == {"fieldManager": ["diagnostic-operator"], "force": ["true"]}
            obj = json.loads(body)
            assert path == f"{incluster.CRD_PATH}/{obj['metadata']['name']}"
            obj["metadata"]["generation"] = 1
            api.crds[obj["metadata"]["name"]] = obj
            self._send(200, obj)

        def do_GET(self) -> None:
            parsed = self._common()
            if parsed is None:
                return
            name = parsed[0].rsplit("/", 1)[-1]
            if name not in api.crds:
                self._send(404, {"kind": "Status", "message": f'customresourcedefinitions "{name}" not found'})
                return
            api.gets_until_established -= 1
            status = "True" if api.gets_until_established <= 0 else "False"
            self._send(200, {**api.crds[name], "status": {"conditions": [
                {"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": status}]}})

    return Handler


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the stub's certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "ca.crt", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def server(certificate: tuple[Path, Path], tmp_path: Path) -> Iterator[tuple[FakeApi, dict[str, str], Path]]:
    """The stub on 127.0.0.1 over TLS, the env a Pod would have, and a service account folder."""
    cert, key = certificate
    api = FakeApi()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    sa_dir = tmp_path / "sa"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(TOKEN + "\n")
    shutil.copy(cert, sa_dir / "ca.crt")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(httpd.server_address[1])}
    yield api, env, sa_dir
    httpd.shutdown()
    httpd.server_close()


def test_apply_crd_over_tls_with_the_token_waits_for_established(server: tuple[FakeApi, dict[str, str], Path]) -> None:
    api, env, sa_dir = server
    client = incluster.Client.in_cluster(env, sa_dir)
    crd = build_crd()
    result = incluster.apply_crd(client, crd, timeout=10, interval=0.01)
    assert incluster.established(result)
    assert api.crds[CRD_NAME]["spec"] == crd["spec"]
    assert [(m, p.split("?")[0]) for m, p, _, _ in api.requests] == [
        ("PATCH", f"{incluster.CRD_PATH}/{CRD_NAME}"), ("GET", f"{incluster.CRD_PATH}/{CRD_NAME}"),
        ("GET", f"{incluster.CRD_PATH}/{CRD_NAME}")]


def test_a_crd_never_established_times_out_with_its_name(server: tuple[FakeApi, dict[str, str], Path]) -> None:
    api, env, sa_dir = server
    api.gets_until_established = 10**6
    with pytest.raises(incluster.ApiError, match=f"CustomResourceDefinition {CRD_NAME} to be Established"):
        incluster.apply_crd(incluster.Client.in_cluster(env, sa_dir), build_crd(), timeout=0.05, interval=0.01)


def test_a_refusal_carries_the_status_message(server: tuple[FakeApi, dict[str, str], Path]) -> None:
    api, env, sa_dir = server
    api.fail_apply = (403, {"kind": "Status", "message": 'customresourcedefinitions "x" is forbidden: no'})
    with pytest.raises(incluster.ApiError, match="HTTP 403: customresourcedefinitions \"x\" is forbidden") as info:
        incluster.apply_crd(incluster.Client.in_cluster(env, sa_dir), build_crd(), timeout=1)
    assert info.value.status == 403


def test_a_wrong_token_is_refused(server: tuple[FakeApi, dict[str, str], Path]) -> None:
    _, env, sa_dir = server
    (sa_dir / "token").write_text("other")
    with pytest.raises(incluster.ApiError, match="HTTP 401: Unauthorized"):
        incluster.apply_crd(incluster.Client.in_cluster(env, sa_dir), build_crd(), timeout=1)


def test_the_server_certificate_is_checked_against_the_service_account_ca(
        server: tuple[FakeApi, dict[str, str], Path], tmp_path: Path) -> None:
    _, env, _ = server
    other = tmp_path / "other"
    other.mkdir()
    (other / "token").write_text(TOKEN)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x",
                    "-keyout", str(other / "k.pem"), "-out", str(other / "ca.crt")], check=True, capture_output=True)
    with pytest.raises(incluster.ApiError, match=r"cannot reach the API server.*CERTIFICATE_VERIFY_FAILED"):
        incluster.apply_crd(incluster.Client.in_cluster(env, other), build_crd(), timeout=1)


def test_outside_a_pod_the_errors_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(incluster.ApiError, match="KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT"):
        incluster.Client.in_cluster({}, tmp_path)
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(incluster.ApiError, match="automountServiceAccountToken"):
        incluster.Client.in_cluster(env, tmp_path)
    with pytest.raises(incluster.ApiError, match=r"cannot reach the API server at http://127\.0\.0\.1:9"):
        incluster.Client("http://127.0.0.1:9", timeout=2).request(incluster.Request("GET", "/version"))


def test_only_http_urls_are_opened() -> None:
    with pytest.raises(ValueError, match="not an https:// or http:// URL"):
        incluster.Client("file:///etc")


def test_request_building() -> None:
    req = incluster.crd_apply_request({"metadata": {"name": "a.b"}, "spec": {}})
    assert (req.method, req.path) == ("PATCH", f"{incluster.CRD_PATH}/a.b?fieldManager=diagnostic-operator&force=true")
    built = incluster.Client("https://[fd00::1]:6443", token="t").build(req)
    assert built.full_url == f"https://[fd00::1]:6443{incluster.CRD_PATH}/a.b?fieldManager=diagnostic-operator&force=true"
    assert built.get_header("Authorization") == "Bearer t"
    assert built.get_header("Content-type") == "application/apply-patch+yaml"
    assert json.loads(built.data or b"") == {"metadata": {"name": "a.b"}, "spec": {}}


def test_cli_crd_apply_annotates_and_reports(server: tuple[FakeApi, dict[str, str], Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    api, env, sa_dir = server
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(incluster, "SERVICE_ACCOUNT_DIR", sa_dir)
    result = CliRunner().invoke(app, ["crd", "--apply", "--annotate", "helm.sh/resource-policy=keep"])
    assert result.exit_code == 0, result.output
    assert f"CustomResourceDefinition {CRD_NAME} applied and Established" in result.output
    assert api.crds[CRD_NAME]["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    bad = CliRunner().invoke(app, ["crd", "--apply", "--annotate", "novalue"])
    assert bad.exit_code == 2 and "--annotate 'novalue': write KEY=VALUE" in bad.output
    alone = CliRunner().invoke(app, ["crd", "--annotate", "a=b"])
    assert alone.exit_code == 2 and "--annotate needs --apply" in alone.output


def test_cli_crd_apply_outside_a_pod_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = CliRunner().invoke(app, ["crd", "--apply"])
    assert result.exit_code == 1
    assert "KUBERNETES_SERVICE_HOST" in result.output
