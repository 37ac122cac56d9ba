"""``helm test``'s commands: the bundles ``selftest-diagnostic`` writes are valid for the strict reader, and
``selftest`` creates, polls and deletes the execution through the API (a local HTTP stub)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from diagnostic_operator import incluster, selftest
from diagnostic_operator.cli import app
from diagnostic_operator.spec import DiagnosticExecutionSpec


def test_selftest_diagnostic_writes_bundles_the_results_reader_accepts(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIAGNOSTIC_OUTPUT_DIR", str(tmp_path))
    written = CliRunner().invoke(app, ["selftest-diagnostic"])
    assert written.exit_code == 0, written.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diagnostic.json", "output.json"]
    checked = CliRunner().invoke(app, ["results", "validate", str(tmp_path)])
    assert checked.exit_code == 0, checked.output
    assert "1 scalar values" in checked.output
    monkeypatch.delenv("DIAGNOSTIC_OUTPUT_DIR")
    missing = CliRunner().invoke(app, ["selftest-diagnostic"])
    assert missing.exit_code == 2 and "DIAGNOSTIC_OUTPUT_DIR is not set" in missing.output


def test_the_test_execution_is_a_valid_spec_without_retries() -> None:
    doc = selftest.execution("selftest-abc", "diagnostic-operator:0.1.0")
    spec = DiagnosticExecutionSpec.model_validate(doc["spec"])
    assert spec.retry.max_attempts == 1
    assert doc["spec"]["command"] == ["diagnostic-operator", "selftest-diagnostic"]


class Api:
    def __init__(self, phases: list[str]) -> None:
        self.phases = phases  # what successive GETs report
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []


@pytest.fixture
def api_server(request: pytest.FixtureRequest) -> Iterator[tuple[Api, incluster.Client]]:
    api = Api(list(request.param))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            api.calls.append(("POST", self.path))
            obj = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            api.objects[obj["metadata"]["name"]] = obj
            self._send(201, obj)

        def do_GET(self) -> None:
            api.calls.append(("GET", self.path))
            phase = api.phases.pop(0) if len(api.phases) > 1 else api.phases[0]
            obj = api.objects[self.path.rsplit("/", 1)[-1]]
            self._send(200, {**obj, "status": {"phase": phase, "failureClass": "DiagnosticError"} if phase else {}})

        def do_DELETE(self) -> None:
            api.calls.append(("DELETE", self.path))
            del api.objects[self.path.rsplit("/", 1)[-1]]
            self._send(200, {"kind": "Status", "status": "Success"})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield api, incluster.Client(f"http://127.0.0.1:{httpd.server_address[1]}", timeout=5)
    httpd.shutdown()
    httpd.server_close()


PATH = "/apis/diagnostic-operator.io/v1alpha1/namespaces/ns/diagnosticexecutions"


@pytest.mark.parametrize("api_server", [["", "Pending", "Running", "Succeeded"]], indirect=True)
def test_selftest_waits_for_success_then_deletes(api_server: tuple[Api, incluster.Client]) -> None:
    api, client = api_server
    lines: list[str] = []
    status = selftest.run(client, "ns", "st-1", "img:1", timeout=10, interval=0.01, say=lines.append)
    assert status["phase"] == "Succeeded"
    assert api.calls[0] == ("POST", PATH) and api.calls[-1] == ("DELETE", f"{PATH}/st-1")
    assert api.objects == {}
    assert lines == ["created DiagnosticExecution ns/st-1 (image img:1)", "phase: (none yet)", "phase: Pending",
                     "phase: Running", "phase: Succeeded", "deleted ns/st-1"]


@pytest.mark.parametrize("api_server", [["Running", "Failed"]], indirect=True)
def test_a_failed_selftest_keeps_the_execution(api_server: tuple[Api, incluster.Client]) -> None:
    api, client = api_server
    status = selftest.run(client, "ns", "st-2", "img:1", timeout=10, interval=0.01, say=lambda _: None)
    assert status["phase"] == "Failed"
    assert "st-2" in api.objects and ("DELETE", f"{PATH}/st-2") not in api.calls


@pytest.mark.parametrize("api_server", [["Running"]], indirect=True)
def test_a_selftest_that_never_ends_times_out_naming_the_object(api_server: tuple[Api, incluster.Client]) -> None:
    _, client = api_server
    with pytest.raises(incluster.ApiError, match=r"ns/st-3 is still Running \(kubectl -n ns describe"):
        selftest.run(client, "ns", "st-3", "img:1", timeout=0.05, interval=0.01, say=lambda _: None)
