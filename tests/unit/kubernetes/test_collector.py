"""The garbage collector's set-up of the operator (transports/kubernetes/collector.py): run in a child process,
since freezing and thresholds are global to an interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from diagnostic_operator.transports.kubernetes import collector


def _child(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if k != "DIAGNOSTIC_OPERATOR_GC_TUNING"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, capture_output=True, text=True,
                         timeout=120, env={**environ, **(env or {})})
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_tune_freezes_what_exists_and_raises_the_thresholds_while_cycles_are_still_collected() -> None:
    got = _child("""
        import gc, json
        from diagnostic_operator.transports.kubernetes import collector
        before = (gc.get_threshold(), gc.get_freeze_count())
        collector.tune()
        collector.tune()  # idempotent
        class Node: pass
        a, b = Node(), Node()
        a.other, b.other = b, a          # a reference cycle made after the start
        del a, b
        collected = gc.collect()         # explicit collections still find it
        print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                          "collected": collected}))
    """)
    assert got["before"] != [list(collector.THRESHOLDS), 0]  # the interpreter's defaults, not ours
    assert got["before"][1] == 0  # type: ignore[index]
    assert tuple(got["after"]) == collector.THRESHOLDS  # type: ignore[arg-type]
    assert int(got["frozen"]) > 10_000  # type: ignore[call-overload]  # the imported modules' objects
    assert int(got["collected"]) >= 2  # type: ignore[call-overload]


@pytest.mark.parametrize(("option", "env", "tuned"), [
    ([], {}, True),
    (["--no-gc-tuning"], {}, False),
    ([], {"DIAGNOSTIC_OPERATOR_GC_TUNING": "false"}, False),
    (["--gc-tuning"], {"DIAGNOSTIC_OPERATOR_GC_TUNING": "false"}, True),
])
def test_the_operator_command_tunes_the_collector_before_kopf_runs(
        tmp_path: Path, option: list[str], env: dict[str, str], tuned: bool) -> None:
    got = _child(f"""
        import gc, json, sys
        import kopf
        seen = {{"default": gc.get_threshold()}}
        def run(**kwargs):
            seen.update(threshold=gc.get_threshold(), frozen=gc.get_freeze_count())
        kopf.run = run
        from diagnostic_operator import cli
        sys.argv = ["diagnostic-operator", "operator", "--metrics-port", "0",
                    "--database", "sqlite:///{tmp_path}/db.sqlite", "--store", "{tmp_path}/store", *{option!r}]
        try:
            cli.app()
        except SystemExit:
            pass
        print(json.dumps(seen))
    """, env)
    assert "threshold" in got, "kopf.run was not reached"
    if tuned:
        assert tuple(got["threshold"]) == collector.THRESHOLDS  # type: ignore[arg-type]
        assert int(got["frozen"]) > 0  # type: ignore[call-overload]
    else:
        assert got["threshold"] == got["default"]
        assert got["frozen"] == 0
