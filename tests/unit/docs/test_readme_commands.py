"""The commands README.md and examples/README.md print work as printed: every manifest they run or validate
exists and parses, and every execution they show, query or describe is the metadata.name of an example."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from diagnostic_operator.manifest import load_manifests

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", ROOT / "examples" / "README.md"]


def example_names() -> set[str]:
    names = set()
    for path in [*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/failing/*.yaml")]:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "DiagnosticExecution":
                names.add(doc["metadata"]["name"])
    return names


def commands(path: Path) -> list[list[str]]:
    """The diagnostic-operator and kubectl command lines of a Markdown file: in code blocks, and in inline
    code spans; comments after # dropped."""
    text = path.read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.S):
        lines += block.splitlines()
    lines += re.findall(r"`((?:diagnostic-operator|kubectl) [^`]+)`", text)
    found = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip().removeprefix("$ ")
        if line.startswith(("diagnostic-operator ", "kubectl ")):
            found.append(shlex.split(line))
    return found


def references(argv: list[str]) -> tuple[list[str], list[str]]:
    """(manifest paths, execution names) a command line names."""
    words = [w for w in argv if not w.startswith("-")]
    if argv[0] == "diagnostic-operator":
        if words[1:2] in (["run"], ["validate"]) and len(words) > 2 and words[2].endswith(".yaml"):
            return [words[2]], []
        if words[1:3] in (["executions", "show"], ["executions", "values"]) and len(words) > 3:
            return [], [words[3]]
    if argv[0] == "kubectl" and words[1:3] in (["describe", "dx"], ["get", "dx"]):
        named = [w for w in words[3:] if w != argv[argv.index("-n") + 1]] if "-n" in argv else words[3:]
        return [], named
    return [], []


CASES = [(path.relative_to(ROOT), argv) for path in DOCS for argv in commands(path)]


def test_the_docs_have_commands_to_check() -> None:
    names = [n for _, argv in CASES for n in references(argv)[1]]
    assert "example-oom-then-succeed" in names  # README's executions show and kubectl describe


@pytest.mark.parametrize(("doc", "argv"), CASES, ids=[" ".join(argv) for _, argv in CASES])
def test_a_documented_command_names_what_exists(doc: Path, argv: list[str]) -> None:
    paths, names = references(argv)
    for manifest in paths:
        assert (ROOT / manifest).is_file(), f"{doc}: {' '.join(argv)}: no {manifest}"
        load_manifests(ROOT / manifest)
    for name in names:
        assert name in example_names(), f"{doc}: {' '.join(argv)}: no example is named {name!r}"


@pytest.mark.parametrize(("argv", "expected"), [
    (["diagnostic-operator", "executions", "show", "oom-then-succeed", "--json"], ([], ["oom-then-succeed"])),
    (["diagnostic-operator", "run", "examples/x.yaml"], (["examples/x.yaml"], [])),
    (["kubectl", "describe", "dx", "-n", "demo", "example-timeout"], ([], ["example-timeout"])),
    (["diagnostic-operator", "executions", "list"], ([], [])),
])
def test_references(argv: list[str], expected: tuple[list[str], list[str]]) -> None:
    assert references(argv) == expected


def test_a_wrong_name_fails_the_check() -> None:
    assert "oom-then-succeed" not in example_names()  # the file's name is not the execution's
