"""The one error type of result parsing: it names the file, where in it, and what is wrong."""

from __future__ import annotations


class BundleError(ValueError):
    """A result file that breaks the format. ``where`` is a JSON-pointer-like path in the document."""

    def __init__(self, file: str, where: str, problem: str) -> None:
        self.file = file
        self.where = where
        self.problem = problem
        location = f" at {where}" if where else ""
        super().__init__(f"{file}{location}: {problem}")
