"""The ``diagnostic-operator`` command's entry point.

Every attempt's Pod runs two of its commands on the attempt's critical path: the init container's
``install-shim BIN_DIR OUTPUT_DIR`` (before the runner can start) and the sidecar's ``sidecar`` (the Pod ends
when it does). Exactly those forms, as ``build_job`` writes them, go straight to their modules without the
CLI's imports (typer, rich, the manifest loader: ~0.3 s of start-up each time; docs/sidecar.md). Any other
form (options, ``--help``, a wrong number of arguments) is the full CLI in ``cli.py``, which runs the same
functions.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def fast_command(argv: Sequence[str]) -> Callable[[], int] | None:
    """The command to run without the CLI for ``argv`` (the arguments after the program), or None."""
    if len(argv) == 3 and argv[0] == "install-shim" and not any(a.startswith("-") for a in argv[1:]):
        bin_dir, output_dir = Path(argv[1]), Path(argv[2])

        def install() -> int:
            from diagnostic_operator.runtime.install_shim import run

            return run(bin_dir, output_dir, sys.stdout, sys.stderr)

        return install
    if list(argv) == ["sidecar"]:

        def sidecar() -> int:
            from diagnostic_operator.runtime.sidecar import run

            return run()

        return sidecar
    return None


def main() -> None:
    fast = fast_command(sys.argv[1:])
    if fast is not None:
        sys.exit(fast())
    from diagnostic_operator.cli import main as cli_main

    cli_main()


if __name__ == "__main__":  # pragma: no cover - python -m diagnostic_operator.entrypoint
    main()
