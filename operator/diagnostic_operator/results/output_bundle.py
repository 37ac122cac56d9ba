"""The CMEC output bundle (``output.json``): validation (spec section 3.6), path safety (3.5) and
output rows (6.3).

Entries of ``plots``, ``data`` and ``html`` become ``OutputRow``s (in that order); ``metrics`` is
validated but not recorded; ``diagnostics`` and other keys are ignored. Every recorded filename is
checked against the output folder: lexically first, then with symlinks resolved, and must be an
existing regular file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from diagnostic_operator.results._common import pointer, short, type_name
from diagnostic_operator.results._warnings import Warnings
from diagnostic_operator.results.errors import BundleError
from diagnostic_operator.results.json_reader import JsonDocument
from diagnostic_operator.results.options import DEFAULT_OPTIONS, ParseOptions
from diagnostic_operator.results.paths import UnsafePathError, clean_relative, resolve_inside
from diagnostic_operator.results.rows import OutputRow, OutputType

FILE = "output.json"
SECTIONS: tuple[tuple[str, OutputType | None], ...] = (
    ("plots", "plot"),
    ("data", "data"),
    ("html", "html"),
    ("metrics", None),
)
_REQUIRED_PROVENANCE = ("environment", "modeldata", "obsdata", "log")


@dataclass(frozen=True, slots=True)
class OutputBundle:
    """A validated output bundle: the rows to record and the (unchecked) ``index`` name."""

    outputs: list[OutputRow]
    index: str | None
    provenance: dict[str, Any]
    file: str = FILE
    warnings: list[str] = field(default_factory=list)


def validate_output_bundle(
    document: JsonDocument | Any,
    output_dir: str | os.PathLike[str] | None,
    *,
    file: str = FILE,
    options: ParseOptions = DEFAULT_OPTIONS,
) -> OutputBundle:
    """Check a decoded output bundle (spec 3.6 items 1-7) and every recorded filename against
    ``output_dir`` (3.5; with ``output_dir`` None only the lexical rules, absolute paths rejected).
    Item 8, dimension names in the CV, is ``vocabulary.check_outputs``. Raises ``BundleError``;
    ``where`` names section and short name."""
    doc = document.value if isinstance(document, JsonDocument) else document
    warnings = Warnings()
    if type(doc) is not dict:
        raise BundleError(file, "", f"the output bundle must be a JSON object, got {type_name(doc)}")
    provenance = _check_provenance(doc, file)
    index = doc.get("index")
    if index is not None and type(index) is not str:
        raise BundleError(file, pointer("index"), f"index must be a string or null, got {type_name(index)}")
    if index is not None and output_dir is not None:
        try:
            clean_relative(output_dir, index)
        except UnsafePathError as exc:
            warnings.add(file, pointer("index"), f"index {index!r} is not a safe file name ({exc}); ignored")

    outputs: list[OutputRow] = []
    sizes: dict[str, int] = {}
    total = 0
    for section, output_type in SECTIONS:
        entries = doc.get(section)
        if entries is None:
            continue
        if type(entries) is not dict:
            raise BundleError(
                file,
                pointer(section),
                f"section {section!r} must be an object or null, got {type_name(entries)}",
            )
        for short_name, entry in entries.items():
            row = _check_entry(entry, section, short_name, file)
            if output_type is None:
                continue
            if len(short_name) > options.max_short_name_length:
                raise BundleError(
                    file,
                    pointer(section, short(short_name, 80)),
                    f"{section} entry {short(short_name)}: short name is {len(short_name)} characters long, "
                    f"more than the limit of {options.max_short_name_length}",
                )
            filename = _safe_filename(output_dir, row["filename"], section, short_name, file, options)
            if output_dir is not None and filename not in sizes:
                size = _size(output_dir, filename, section, short_name, file, options)
                sizes[filename] = size
                total += size
                if total > options.max_output_total_bytes:
                    raise BundleError(
                        file,
                        pointer(section, short_name, "filename"),
                        f"the files of the output bundle add up to more than the limit of "
                        f"{options.max_output_total_bytes} bytes (reached at {section} entry {short(short_name)})",
                    )
            outputs.append(
                OutputRow(
                    output_type, short_name, filename, row["long_name"], row["description"], row["dimensions"]
                )
            )
            if len(outputs) > options.max_outputs:
                raise BundleError(
                    file, pointer(section), f"more than the limit of {options.max_outputs} output entries"
                )
    return OutputBundle(outputs, index, provenance, file, warnings.result())


def _check_provenance(doc: dict[str, Any], file: str) -> dict[str, Any]:
    if "provenance" not in doc:
        raise BundleError(file, "", "required key provenance is missing")
    provenance = doc["provenance"]
    if type(provenance) is not dict:
        raise BundleError(
            file, pointer("provenance"), f"provenance must be an object, got {type_name(provenance)}"
        )
    for key in _REQUIRED_PROVENANCE:
        if key not in provenance:
            raise BundleError(file, pointer("provenance"), f"required key {key} is missing")
    environment = provenance["environment"]
    if type(environment) is not dict:
        raise BundleError(
            file,
            pointer("provenance", "environment"),
            f"environment must be an object, got {type_name(environment)}",
        )
    for key, value in environment.items():
        if value is not None and type(value) is not str:
            raise BundleError(
                file,
                pointer("provenance", "environment", key),
                f"environment values must be strings or null, got {type_name(value)}",
            )
    for key in ("modeldata", "obsdata"):
        value = provenance[key]
        ok = (
            type(value) is str
            or type(value) is dict
            or (type(value) is list and all(type(item) is str for item in value))
        )
        if not ok:
            raise BundleError(
                file,
                pointer("provenance", key),
                f"{key} must be a string, a list of strings or an object, got {type_name(value)}",
            )
    if type(provenance["log"]) is not str:
        raise BundleError(
            file, pointer("provenance", "log"), f"log must be a string, got {type_name(provenance['log'])}"
        )
    return provenance


def _check_entry(entry: Any, section: str, short_name: str, file: str) -> dict[str, Any]:
    where = pointer(section, short_name)
    if type(entry) is not dict:
        raise BundleError(file, where, f"entry must be an object, got {type_name(entry)}")
    for key in ("filename", "long_name", "description"):
        if key not in entry:
            raise BundleError(file, where, f"required key {key} is missing")
        if type(entry[key]) is not str:
            raise BundleError(
                file,
                pointer(section, short_name, key),
                f"{key} must be a string, got {type_name(entry[key])}",
            )
    dimensions = entry.get("dimensions")
    if dimensions is None:
        dimensions = {}
    elif type(dimensions) is not dict:
        raise BundleError(
            file,
            pointer(section, short_name, "dimensions"),
            f"dimensions must be an object or null, got {type_name(dimensions)}",
        )
    else:
        for name, value in dimensions.items():
            if name == "":
                raise BundleError(
                    file, pointer(section, short_name, "dimensions"), "dimension names must not be empty"
                )
            if type(value) is not str:
                raise BundleError(
                    file,
                    pointer(section, short_name, "dimensions", name),
                    f"dimension values must be strings, got {type_name(value)}",
                )
        dimensions = dict(dimensions)
    return {
        "filename": entry["filename"],
        "long_name": entry["long_name"],
        "description": entry["description"],
        "dimensions": dimensions,
    }


def _safe_filename(
    output_dir: str | os.PathLike[str] | None,
    filename: str,
    section: str,
    short_name: str,
    file: str,
    options: ParseOptions = DEFAULT_OPTIONS,
) -> str:
    where = pointer(section, short_name, "filename")
    entry = f"{section} entry {short(short_name)}"
    try:
        if len(filename.encode("utf-8", "surrogatepass")) > options.max_filename_bytes:
            raise UnsafePathError(f"longer than the limit of {options.max_filename_bytes} bytes")
        if output_dir is None:  # lexical checks only
            return clean_relative(None, filename)
        relative, _ = resolve_inside(output_dir, filename)
    except UnsafePathError as exc:
        raise BundleError(file, where, f"{entry}: unsafe filename {short(filename, 200)}: {exc}") from None
    except FileNotFoundError:
        raise BundleError(file, where, f"{entry}: file {short(filename, 200)} does not exist") from None
    return relative


def _size(
    output_dir: str | os.PathLike[str], relative: str, section: str, short_name: str, file: str,
    options: ParseOptions,
) -> int:
    where = pointer(section, short_name, "filename")
    try:
        size = os.stat(os.path.join(os.path.realpath(os.fspath(output_dir)), relative)).st_size
    except OSError as exc:
        raise BundleError(
            file, where, f"{section} entry {short(short_name)}: cannot stat {short(relative, 200)}: {exc.strerror}"
        ) from None
    if size > options.max_output_file_bytes:
        raise BundleError(
            file,
            where,
            f"{section} entry {short(short_name)}: file {short(relative, 200)} is {size} bytes, "
            f"more than the limit of {options.max_output_file_bytes} bytes",
        )
    return size


def parse_output_bundle(
    document: JsonDocument | Any,
    output_dir: str | os.PathLike[str] | None,
    *,
    file: str = FILE,
    options: ParseOptions = DEFAULT_OPTIONS,
) -> tuple[list[OutputRow], list[str]]:
    """Validate and derive in one call: ``(rows, warnings)``."""
    bundle = validate_output_bundle(document, output_dir, file=file, options=options)
    return bundle.outputs, bundle.warnings
