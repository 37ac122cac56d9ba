"""The Pod side: ``python -m diagnostic_operator_climate_ref.run DEFINITION_PATH``.

Reads one serialised definition, configures its provider, runs Climate-REF's own ``execute_locally`` and
writes the serialised result beside the definition (``<folder>.result.json``), then exits with a code the
operator's retry policy reads (``exit_codes``). The result, not the exit code, is what Climate-REF records.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

from . import exit_codes
from .mapping import sidecar_paths


def exit_code_for(successful: bool, retryable: bool) -> int:
    """Climate-REF's verdict on a result → the exit code the operator sees."""
    if successful:
        return exit_codes.SUCCESS
    return exit_codes.SYSTEM_ERROR if retryable else exit_codes.DIAGNOSTIC_ERROR


def result_path_for(definition_path: Path, output_directory: Path) -> Path:
    expected, result = sidecar_paths(PurePosixPath(output_directory))
    if Path(expected) != definition_path:
        # The executor writes the definition at this place; elsewhere the result would not be found.
        raise ValueError(f"{definition_path} is not where the definition of {output_directory} belongs ({expected})")
    return Path(result)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m diagnostic_operator_climate_ref.run DEFINITION_PATH", file=sys.stderr)
        return exit_codes.USAGE
    # Climate-REF reads HOME and REF_CONFIGURATION when imported.
    from climate_ref.config import Config  # noqa: PLC0415
    from climate_ref_core.executor import execute_locally  # noqa: PLC0415

    from .wire import read_definition, write_result  # noqa: PLC0415

    definition_path = Path(argv[0]).absolute()
    try:
        definition = read_definition(definition_path)
        result_path = result_path_for(definition_path, definition.output_directory)
        config = Config.default()
        definition.diagnostic.provider.configure(config)
    except Exception as exc:  # a definition this image cannot run: nothing ran, nothing to retry
        print(f"cannot run {definition_path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    result = execute_locally(definition, log_level=config.log_level, measure=True, exclusive=True)
    write_result(result_path, result)
    print(f"{definition.execution_slug()}: successful={result.successful} retryable={result.retryable} "
          f"result={result_path}", file=sys.stderr)
    return exit_code_for(result.successful, result.retryable)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
