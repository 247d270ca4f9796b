"""The one error type the exporter raises for bad input: printed as one line, exit code 2."""

from __future__ import annotations


class ExportError(Exception):
    """Bad input or an impossible request. ``str(e)`` is the one-line message shown to the user."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
