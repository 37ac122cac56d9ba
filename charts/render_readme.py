#!/usr/bin/env python3
"""Generate the values table of a chart's README.md from the `# --` comments of its values.yaml.

    .venv/bin/python charts/render_readme.py [CHART_DIR] [--check]

Every field of values.yaml carries a `# -- description` comment (continued by `#   ...` lines) on the lines just
above it; a field without one is an error unless it only groups documented fields. The table replaces what lies
between `<!-- values:begin -->` and `<!-- values:end -->` in README.md; the rest of the README is written by hand.
``--check`` changes nothing and exits 1 when the README differs from what it would write (a unit test runs it).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BEGIN = "<!-- values:begin -->"
END = "<!-- values:end -->"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?:\s|$)")
DOC = re.compile(r"^ *# -- ?(?P<text>.*)$")
MORE = re.compile(r"^ *#(?: (?P<text>.*))?$")


class ValuesDocError(ValueError):
    """values.yaml has a field without a description."""


@dataclass(frozen=True)
class Field:
    path: tuple[str, ...]
    description: str
    value: Any

    @property
    def key(self) -> str:
        return ".".join(self.path)

    @property
    def type(self) -> str:
        value = self.value
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "int"
        if isinstance(value, str):
            return "string"
        if isinstance(value, list):
            return "list"
        return "object"


def _lookup(values: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        values = values[part]
    return values


def fields(values_text: str) -> list[Field]:
    """The documented fields of a values.yaml text, in file order. Raises ValuesDocError for an undocumented one."""
    values = yaml.safe_load(values_text) or {}
    docs: dict[tuple[str, ...], str] = {}
    order: list[tuple[str, ...]] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in values_text.splitlines():
        doc = DOC.match(line)
        if doc:
            pending = [doc.group("text").strip()]
            continue
        more = MORE.match(line)
        if more:
            if pending is not None and (more.group("text") or "").strip():
                pending.append((more.group("text") or "").strip())
            elif pending is not None:
                pending = None  # an empty comment line ends a description
            continue
        match = KEY.match(line)
        if not match:
            if not line.strip():
                pending = None
            continue
        indent = len(match.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (*(key for _, key in stack), match.group("key"))
        stack.append((indent, match.group("key")))
        order.append(path)
        if pending is not None:
            docs[path] = " ".join(pending)
            pending = None
    result: list[Field] = []
    missing: list[str] = []
    for path in order:
        if any(path[:n] in docs for n in range(1, len(path))):
            continue  # inside a documented field (e.g. resources.requests.cpu)
        value = _lookup(values, path)
        if path in docs:
            result.append(Field(path, docs[path], value))
        elif not (isinstance(value, dict) and value and
                  any(other[:len(path)] == path and other != path for other in docs)):
            missing.append(".".join(path))
    if missing:
        raise ValuesDocError("values.yaml fields without a `# --` description: " + ", ".join(missing))
    return result


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(values_text: str) -> str:
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for item in fields(values_text):
        default = json.dumps(item.value, separators=(", ", ": "), ensure_ascii=False)
        rows.append(f"| `{item.key}` | {item.type} | `{_cell(default)}` | {_cell(item.description)} |")
    return "\n".join(rows) + "\n"


def render(readme_text: str, values_text: str) -> str:
    if BEGIN not in readme_text or END not in readme_text:
        raise ValuesDocError(f"README.md needs the markers {BEGIN} and {END}")
    head, rest = readme_text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(values_text)}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chart", nargs="?", default=str(Path(__file__).resolve().parent / "diagnostic-operator"))
    parser.add_argument("--check", action="store_true", help="Exit 1 if README.md is not up to date.")
    args = parser.parse_args(argv)
    chart = Path(args.chart)
    readme = chart / "README.md"
    current = readme.read_text(encoding="utf-8")
    try:
        wanted = render(current, (chart / "values.yaml").read_text(encoding="utf-8"))
    except ValuesDocError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if current == wanted:
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True),
                                                   str(readme), f"{readme} (generated)"))
        print(f"{readme} is out of date: run .venv/bin/python charts/render_readme.py", file=sys.stderr)
        return 1
    readme.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
