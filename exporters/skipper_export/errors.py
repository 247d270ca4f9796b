"""The one error type the exporter raises for bad input: printed as one line, exit code 2."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn


class ExportError(Exception):
    """Bad input or an impossible request. ``str(e)`` is the one-line message shown to the user."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{_clip(where)}: {_clip(problem)}")
        self.where = where
        self.problem = problem


def _clip(text: str, most: int = 400) -> str:
    """One line (line breaks escaped) of at most ``most`` characters: a message never spans lines,
    whatever a file name or value holds."""
    one = str(text).replace("\r", "\\r").replace("\n", "\\n")
    return one if len(one) <= most else one[: most - 3] + "..."


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one ``error: PROG: ...`` line and exit 2 (argparse prints the
    usage block first), like every other input error of Skipper's commands."""

    def error(self, message: str) -> NoReturn:
        line = " ".join(message.split())
        if len(line) > 300:  # a 1 MB argument is quoted in the message
            line = line[:297] + "..."
        print(f"error: {self.prog}: {line} (see --help)", file=sys.stderr)
        sys.exit(2)


def reported(body: Callable[[], int], where: object) -> int:
    """Runs a command's body: an ExportError, or a file system refusal the checks did not foresee
    (named by its file, else ``where``), becomes one ``error:`` line on stderr and exit code 2."""
    try:
        return body()
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
    except OSError as e:
        print(f"error: {ExportError(str(e.filename or where), str(e.strerror or e))}", file=sys.stderr)
    return 2
