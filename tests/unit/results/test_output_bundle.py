"""The CMEC output bundle: rows of spec 6.3, checklist 3.6 and path safety (3.5) on a real folder."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

import diagnostic_operator.results.paths as paths
from diagnostic_operator.results import UnsafePathError, clean_relative, open_inside, resolve_inside

from .helpers import make_output_dir, output_example, outputs, raises_bundle

EXPECTED_6_3 = [
    ("plot", "bias_map_access", "plots/ACCESS-ESM1-5_tas_bias_map.png",
     "ACCESS-ESM1-5 surface air temperature bias map", {"source_id": "ACCESS-ESM1-5", "metric": "bias"}),
    ("plot", "bias_map_canesm", "plots/CanESM5_tas_bias_map.png",
     "CanESM5 surface air temperature bias map", {"source_id": "CanESM5", "metric": "bias"}),
    ("data", "bias_fields", "data/tas_bias_fields.nc", "Gridded tas bias fields", {}),
    ("html", "summary_page", "index.html", "GMST bias summary page", {}),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_output_dir(tmp_path / "out")


def test_example_gives_the_rows_of_6_3(root: Path) -> None:
    rows, warnings = outputs(output_example(), root)
    assert [(r.output_type, r.short_name, r.filename, r.long_name, r.dimensions) for r in rows] == EXPECTED_6_3
    assert rows[2].description == "NetCDF file with one gridded bias field per model."
    assert warnings == []


def _with(**changes: Any) -> dict[str, Any]:
    doc = output_example()
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = doc
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


_DELETE = object()
ENTRY = {"filename": "index.html", "long_name": "L", "description": ""}

CHECKLIST_3_6: list[tuple[str, Any, str, str]] = [
    # 1. not a JSON object
    ("1 array", [], "", "must be a JSON object, got array"),
    # 2. provenance missing, or a required key missing / of the wrong type
    ("2 no provenance", _with(provenance=_DELETE), "", "required key provenance is missing"),
    ("2 provenance list", _with(provenance=[]), "/provenance", "provenance must be an object"),
    ("2 no environment", _with(provenance__environment=_DELETE), "/provenance", "environment is missing"),
    ("2 no modeldata", _with(provenance__modeldata=_DELETE), "/provenance", "modeldata is missing"),
    ("2 no obsdata", _with(provenance__obsdata=_DELETE), "/provenance", "obsdata is missing"),
    ("2 no log", _with(provenance__log=_DELETE), "/provenance", "log is missing"),
    ("2 environment number value", _with(provenance__environment={"X": 1}), "/provenance/environment/X",
     "strings or null, got number"),
    ("2 environment list", _with(provenance__environment=[]), "/provenance/environment", "must be an object"),
    ("2 modeldata number", _with(provenance__modeldata=3), "/provenance/modeldata",
     "a string, a list of strings or an object"),
    ("2 obsdata list of numbers", _with(provenance__obsdata=[1]), "/provenance/obsdata", "list of strings"),
    ("2 log null", _with(provenance__log=None), "/provenance/log", "log must be a string, got null"),
    # 3. a section neither object nor null
    ("3 plots list", _with(plots=[]), "/plots", "section 'plots' must be an object or null, got array"),
    ("3 metrics string", _with(metrics="x"), "/metrics", "section 'metrics' must be an object or null"),
    ("3 data number", _with(data=1), "/data", "got number"),
    # 4. entry missing filename/long_name/description or with a non-string one
    ("4 entry not object", _with(html__summary_page="index.html"), "/html/summary_page", "entry must be an object"),
    ("4 no filename", _with(html__summary_page__filename=_DELETE), "/html/summary_page", "filename is missing"),
    ("4 no long_name", _with(data__bias_fields__long_name=_DELETE), "/data/bias_fields", "long_name is missing"),
    ("4 no description", _with(plots__bias_map_access__description=_DELETE), "/plots/bias_map_access",
     "description is missing"),
    ("4 filename number", _with(html__summary_page__filename=3), "/html/summary_page/filename",
     "filename must be a string, got number"),
    ("4 metrics entry checked too", _with(metrics__scalar_bundle__long_name=None),
     "/metrics/scalar_bundle/long_name", "long_name must be a string, got null"),
    # 5. dimensions neither null nor a flat string->string object
    ("5 dimensions list", _with(plots__bias_map_access__dimensions=["a"]), "/plots/bias_map_access/dimensions",
     "dimensions must be an object or null, got array"),
    ("5 dimension value number", _with(plots__bias_map_access__dimensions={"source_id": 1}),
     "/plots/bias_map_access/dimensions/source_id", "dimension values must be strings, got number"),
    ("5 dimension value nested", _with(plots__bias_map_access__dimensions={"source_id": {}}),
     "/plots/bias_map_access/dimensions/source_id", "got object"),
    ("5 empty dimension name", _with(plots__bias_map_access__dimensions={"": "x"}),
     "/plots/bias_map_access/dimensions", "must not be empty"),
    # 6. index neither string nor null
    ("6 index number", _with(index=1), "/index", "index must be a string or null, got number"),
    # 7. a path failing 3.5, or a missing file (more in the path-safety tests below)
    ("7 escaping path", _with(html__summary_page__filename="../../etc/passwd"), "/html/summary_page/filename",
     "html entry 'summary_page': unsafe filename '../../etc/passwd': path escapes the output folder"),
    ("7 missing file", _with(data__bias_fields__filename="data/missing.nc"), "/data/bias_fields/filename",
     "data entry 'bias_fields': file 'data/missing.nc' does not exist"),
]
# 8. (entry dimension names in the CV) is covered in test_vocabulary.py.


@pytest.mark.parametrize(("case", "doc", "where", "problem"), CHECKLIST_3_6, ids=[c[0] for c in CHECKLIST_3_6])
def test_checklist_3_6(root: Path, case: str, doc: Any, where: str, problem: str) -> None:
    raises_bundle(lambda: outputs(doc, root), where, problem)


def test_minimal_bundle_sections_null_or_empty_and_extras(root: Path) -> None:
    doc = {"provenance": {"environment": {}, "modeldata": "m", "obsdata": {"x": 1}, "log": "out.log", "x": 1},
           "plots": None, "data": {}, "html": {"p": {**ENTRY, "caption": "c", "dimensions": None}},
           "metrics": None, "diagnostics": [1, 2], "producer": {"anything": True}}
    rows, _ = outputs(doc, root)
    assert [(r.output_type, r.short_name, r.filename, r.dimensions) for r in rows] == [
        ("html", "p", "index.html", {})]


def test_metrics_and_diagnostics_not_recorded(root: Path) -> None:
    rows, _ = outputs(output_example(), root)
    assert {r.short_name for r in rows}.isdisjoint({"scalar_bundle"})


def test_short_name_is_only_a_label(root: Path) -> None:
    doc = _with(html={"/etc/passwd": dict(ENTRY), "../x/y": dict(ENTRY)})
    rows, _ = outputs(doc, root)
    assert [(r.short_name, r.filename) for r in rows][-2:] == [("/etc/passwd", "index.html"), ("../x/y", "index.html")]


def test_unsafe_index_is_a_warning_only(root: Path) -> None:
    _, warnings = outputs(_with(index="../elsewhere.html"), root)
    assert warnings == ["output.json at /index: index '../elsewhere.html' is not a safe file name "
                        "(path escapes the output folder); ignored"]


def test_output_cap(root: Path) -> None:
    raises_bundle(lambda: outputs(output_example(), root, max_outputs=3), "/html", "more than the limit of 3")


# ---- path safety (3.5) ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty path"),
        ("a\x00b", "NUL"),
        ("plots\\x.png", "backslash"),
        ("C:/x.png", "drive prefix"),
        ("c:x", "drive prefix"),
        ("..", "escapes"),
        ("../x", "escapes"),
        ("../../etc/passwd", "escapes"),
        ("a/../../x", "escapes"),
        ("./../x", "escapes"),
        (".", "output folder itself"),
        ("a/..", "output folder itself"),
        ("plots/../index.html", "'..' component"),  # stays inside once cleaned, but never written so
        ("/etc/passwd", "absolute path outside"),
    ],
)
def test_lexical_rejections(root: Path, name: str, problem: str) -> None:
    with pytest.raises(UnsafePathError, match=problem):
        clean_relative(root, name)
    raises_bundle(lambda: outputs(_with(html__summary_page__filename=name), root), "/html/summary_page/filename",
                  problem)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("index.html", "index.html"), ("./index.html", "index.html"),
     ("data//tas_bias_fields.nc", "data/tas_bias_fields.nc"), ("plots/./CanESM5_tas_bias_map.png",
                                                              "plots/CanESM5_tas_bias_map.png")],
)
def test_relative_paths_are_cleaned(root: Path, name: str, expected: str) -> None:
    assert clean_relative(root, name) == expected
    rows, _ = outputs(_with(html__summary_page__filename=name), root)
    assert rows[-1].filename == expected


def test_absolute_path_inside_is_made_relative(root: Path) -> None:
    absolute = str(root / "data" / "tas_bias_fields.nc")
    rows, _ = outputs(_with(html__summary_page__filename=absolute), root)
    assert rows[-1].filename == "data/tas_bias_fields.nc"
    assert clean_relative(root, "//" + absolute.lstrip("/")) == "data/tas_bias_fields.nc"


def test_absolute_path_that_escapes_after_cleaning(root: Path) -> None:
    sneaky = f"{root}/../../x"
    with pytest.raises(UnsafePathError, match="absolute path outside"):
        clean_relative(root, sneaky)


def test_containment_is_not_a_string_prefix(tmp_path: Path) -> None:
    root = make_output_dir(tmp_path / "results")
    sibling = tmp_path / "results2"
    sibling.mkdir()
    (sibling / "secret").write_text("s")
    with pytest.raises(UnsafePathError, match="absolute path outside"):
        clean_relative(root, str(sibling / "secret"))
    with pytest.raises(UnsafePathError, match="escapes"):
        clean_relative(root, "../results2/secret")


def test_absolute_path_through_a_symlinked_root(tmp_path: Path) -> None:
    real = make_output_dir(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(real)
    assert clean_relative(link, str(real / "index.html")) == "index.html"
    assert clean_relative(link, str(link / "index.html")) == "index.html"
    rel, resolved = resolve_inside(link, "index.html")
    assert (rel, resolved) == ("index.html", real / "index.html")


def test_symlink_pointing_outside_is_rejected(root: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    (root / "plots" / "evil.png").symlink_to(tmp_path / "secret.txt")
    (root / "escape_dir").symlink_to(tmp_path)
    for name in ("plots/evil.png", "escape_dir/secret.txt"):
        with pytest.raises(UnsafePathError, match=r"resolves .through a symlink. outside"):
            resolve_inside(root, name)
        raises_bundle(lambda n=name: outputs(_with(html__summary_page__filename=n), root),
                      "/html/summary_page/filename", "outside the output folder")


def test_symlink_staying_inside_is_accepted(root: Path) -> None:
    (root / "alias.html").symlink_to(root / "index.html")
    (root / "figs").symlink_to(root / "plots")
    rows, _ = outputs(_with(html__summary_page__filename="alias.html",
                            plots__bias_map_access__filename="figs/ACCESS-ESM1-5_tas_bias_map.png"), root)
    assert rows[0].filename == "figs/ACCESS-ESM1-5_tas_bias_map.png"
    assert rows[-1].filename == "alias.html"
    with open_inside(root, "alias.html") as f:
        assert f.read() == b"content"


def test_dangling_and_looping_symlinks(root: Path) -> None:
    (root / "dangling").symlink_to(root / "nothing")
    (root / "loop").symlink_to(root / "loop")
    with pytest.raises(FileNotFoundError):
        resolve_inside(root, "dangling")
    raises_bundle(lambda: outputs(_with(html__summary_page__filename="dangling"), root),
                  "/html/summary_page/filename", "does not exist")
    with pytest.raises(UnsafePathError):
        resolve_inside(root, "loop")


def test_directory_fifo_socket_device_are_not_regular_files(root: Path) -> None:
    os.mkfifo(root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    short_dir = Path(os.path.relpath(root))  # AF_UNIX paths are short
    try:
        sock.bind(str(short_dir / "s") if len(str(short_dir)) < 90 else "/tmp/do-test-sock")
    except OSError:
        pytest.skip("cannot bind a unix socket here")
    cases = {"plots": "a directory", "fifo": "a FIFO"}
    if (root / "s").exists():
        cases["s"] = "a socket"
    for name, kind in cases.items():
        with pytest.raises(UnsafePathError, match=kind):
            resolve_inside(root, name)
        raises_bundle(lambda n=name: outputs(_with(html__summary_page__filename=n), root),
                      "/html/summary_page/filename", f"not a regular file ({kind})")
    (root / "null").symlink_to("/dev/null")
    with pytest.raises(UnsafePathError, match="outside"):
        resolve_inside(root, "null")
    with pytest.raises(UnsafePathError, match="a device"):
        resolve_inside("/dev", "null")
    sock.close()


def test_open_inside_reads_and_never_blocks_on_a_fifo(root: Path) -> None:
    with open_inside(root, "data/tas_bias_fields.nc") as f:
        assert f.read() == b"content"
    os.mkfifo(root / "fifo")
    with pytest.raises(UnsafePathError, match="a FIFO"):
        open_inside(root, "fifo")
    with pytest.raises(UnsafePathError, match="escapes"):
        open_inside(root, "../x")
    with pytest.raises(FileNotFoundError):
        open_inside(root, "nope")


def test_open_inside_refuses_a_symlink_swapped_in_after_the_check(root: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret").write_text("secret")
    real_resolve = paths.resolve_inside

    def resolve_then_swap(r: Any, name: str) -> Any:
        result = real_resolve(r, name)
        (root / "index.html").unlink()
        (root / "index.html").symlink_to(tmp_path / "secret")
        return result

    monkeypatch.setattr(paths, "resolve_inside", resolve_then_swap)
    with pytest.raises(UnsafePathError, match="changed while opening"):
        paths.open_inside(root, "index.html")


def test_without_an_output_dir_only_lexical_rules_apply() -> None:
    rows, _ = outputs(output_example(), None)
    assert [r.filename for r in rows] == [e[2] for e in EXPECTED_6_3]
    raises_bundle(lambda: outputs(_with(html__summary_page__filename="/abs/index.html"), None),
                  "/html/summary_page/filename", "absolute path outside")
