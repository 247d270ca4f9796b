"""Held-out real text for `./skipper score` (stdlib module docstrings; see
exporters/skipper_export/bench/heldout.py for what and why).

    .venv/bin/python benchmarks/heldout/make_heldout.py [MAX_CHARS] > build/heldout.txt

MAX_CHARS (default 6000, ~1500 SmolLM2 tokens) keeps the text inside a 2048-token context.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "exporters"))

from skipper_export.bench.heldout import DEFAULT_CHARS, heldout_text  # noqa: E402


def main() -> int:
    sys.stdout.write(heldout_text(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CHARS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
