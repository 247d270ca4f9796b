"""``python -m skipper_export.bench``: completes a Java bench run (``--java-json``) with the llama.cpp
baseline, the roofline, a table and a PNG plot. Called by ``./skipper bench``; see docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from .llama_cpp import MODES as LLAMA_MODES, source_gguf


def _read_prompts(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(line.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\"))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m skipper_export.bench", description=__doc__)
    p.add_argument("--java-json", type=Path, required=True, help="the Java bench's --json output")
    p.add_argument("--bundle", type=Path, help="the bundle (default: the one the Java bench ran)")
    p.add_argument("--gguf", type=Path, help="the GGUF the bundle was exported from (default: found from the "
                                             "manifest's source for known models)")
    p.add_argument("--prompts", type=Path, nargs="+", required=True)
    p.add_argument("--llama-modes", default="", help="comma-separated: " + ", ".join(LLAMA_MODES))
    p.add_argument("--json", type=Path, required=True, help="merged output")
    p.add_argument("--plot", type=Path, help="PNG to draw")
    a = p.parse_args(argv)

    doc: dict[str, Any] = json.loads(a.java_json.read_text(encoding="utf-8"))
    bundle = a.bundle or Path(doc["bundle"])
    gguf = a.gguf or source_gguf(bundle)
    sets = {f.stem: _read_prompts(f) for f in a.prompts}
    llama_modes = [m for m in a.llama_modes.split(",") if m]
    for m in llama_modes:
        if m not in LLAMA_MODES:
            print(f"error: unknown llama.cpp mode '{m}' (choose {', '.join(LLAMA_MODES)})", file=sys.stderr)
            return 2
    if llama_modes:
        if gguf is None or not gguf.is_file():
            print(f"error: --gguf {gguf}: the bundle's source GGUF is needed for llama.cpp modes", file=sys.stderr)
            return 2
        from .llama_cpp import run

        llama = run(gguf, sets, llama_modes, int(doc["max_tokens"]), int(doc["threads"]) or 2, bool(doc["chat"]),
                    repeat=int(doc.get("repeat", 1)))
        for name, modes in llama.items():
            ar = doc["sets"].get(name, {}).get("ar", {}).get("mean", {}).get("decode_tokens_per_s")
            for mode, res in modes.items():
                if ar:
                    res["mean"]["speedup_vs_ar"] = res["mean"]["decode_tokens_per_s"] / ar
                doc["sets"].setdefault(name, {})[mode] = res
        doc["modes"] = list(doc["modes"]) + llama_modes
    from .roofline import roofline

    doc["roofline"] = roofline(bundle)
    mark_differences(doc)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    from ..bundle.writer import write_atomic

    write_atomic(a.json, (json.dumps(doc, indent=2) + "\n").encode())
    print(table(doc))
    if a.plot:
        plot(doc, a.plot)
        print(f"bench: wrote {a.plot}")
    print(f"bench: wrote {a.json}")
    return 0


def mark_differences(doc: dict[str, Any]) -> None:
    """Per set and mode (Java and llama.cpp alike): which prompts' tokens differ from ``ar``'s, in
    each prompt's row (``same_tokens_as_ar``) and the mean (``prompts_differing_from_ar``); for
    ``llama.cpp-lookup`` also from ``llama.cpp`` plain (its own lossless claim)."""
    for res in doc["sets"].values():
        for mode, r in res.items():
            for base in ("ar", "llama.cpp"):
                if base not in res or base == mode or (base == "llama.cpp" and mode != "llama.cpp-lookup"):
                    continue
                want = {row["index"]: row["tokens"] for row in res[base].get("prompts", [])}
                differing = 0
                for row in r.get("prompts", []):
                    same = list(row["tokens"]) == list(want.get(row["index"], []))
                    row[f"same_tokens_as_{base}"] = same
                    differing += 0 if same else 1
                r["mean"][f"prompts_differing_from_{base}"] = differing


def _differs(mean: dict[str, Any]) -> bool:
    return bool(mean.get("prompts_differing_from_ar"))


def table(doc: dict[str, Any]) -> str:
    """Markdown: decode tok/s per set and mode, with the ratio to ar and the acceptance."""
    modes = doc["modes"]
    lines = ["| prompt set | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
    for name, res in doc["sets"].items():
        cells = []
        for m in modes:
            mean = res.get(m, {}).get("mean", {})
            rate = mean.get("decode_tokens_per_s")
            if rate is None or (isinstance(rate, float) and math.isnan(rate)):
                cells.append("-")
                continue
            cell = f"{rate:.1f}"
            if m != "ar" and mean.get("speedup_vs_ar"):
                cell += f" ({mean['speedup_vs_ar']:.2f}x)"
            if mean.get("mean_accepted_per_round"):
                cell += f", acc {mean['acceptance_rate']:.2f}, {mean['mean_accepted_per_round']:.2f}/round"
            if _differs(mean):
                n = len(res[m].get("prompts", []))
                cell += f", **tokens differ from ar on {mean['prompts_differing_from_ar']}/{n} prompts**"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    r = doc.get("roofline")
    if r:
        lines.append("")
        lines.append(f"Roofline: {r['bandwidth_gb_s']:.1f} GB/s / {r['weight_bytes_per_token'] / 1e6:.1f} MB per token "
                     f"= {r['tokens_per_s']:.0f} tok/s")
    return "\n".join(lines)


def plot(doc: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(doc["sets"])
    modes = doc["modes"]
    width = 0.8 / max(1, len(modes))
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(sets) * len(modes) / 3), 4.5))
    for j, m in enumerate(modes):
        vals = []
        for s in sets:
            v = doc["sets"][s].get(m, {}).get("mean", {}).get("decode_tokens_per_s")
            vals.append(0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else v)
        differs = [m != "ar" and _differs(doc["sets"][s].get(m, {}).get("mean", {})) for s in sets]
        xs = [i + (j - (len(modes) - 1) / 2) * width for i in range(len(sets))]
        bars = ax.bar(xs, vals, width, label=m + (" (tokens differ from ar: hatched)" if any(differs) else ""))
        for bar, d in zip(bars, differs):
            if d:  # a faster bar whose output is not plain decoding's must not look like a free win
                bar.set_hatch("///")
        ax.bar_label(bars, labels=[f"{v:.0f}" + ("\n≠ar" if d else "") for v, d in zip(vals, differs)], fontsize=7)
    r = doc.get("roofline")
    if r:
        ax.axhline(r["tokens_per_s"], color="grey", linestyle="--", linewidth=1,
                   label=f"roofline {r['tokens_per_s']:.0f} tok/s")
    ax.set_xticks(range(len(sets)), sets)
    ax.set_ylabel("decode tokens/s (greedy)")
    ax.set_title(f"{Path(doc['bundle']).name}, {doc['threads'] or 'default'} threads, {doc['max_tokens']} new tokens")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
