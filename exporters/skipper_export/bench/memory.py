"""``python -m skipper_export.bench.memory``: peak resident memory, Skipper against llama.cpp, each run
in a fresh process (called by ``./skipper bench --memory``; docs/benchmarks.md#memory).

Skipper's side comes from the Java bench's ``memory`` section, one JSON per mode (the launcher runs
one JVM per mode, so each peak is that mode's own). llama.cpp's side runs here, in a child Python
process that loads the same GGUF with the same context and threads and generates the same prompts;
its peak is the child's ``ru_maxrss`` (the Python host included, as an app that embeds llama.cpp
through its Python binding would pay).

Breakdown by stage, each the resident set when it ends: the process alone (JVM or Python), the model
opened (weights as loaded, the tokenizer, runtime arenas; llama.cpp: its KV cache too), the session
(Skipper: the KV cache and activation buffers), generation (activations, JIT, caches), and the peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def _rss() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return -1


def _llama_child(gguf: Path, prompts: list[str], max_tokens: int, context: int, threads: int, chat: bool) -> dict[str, Any]:
    """Runs in the child: load, generate every prompt, report the stages and the peak."""
    start = _rss()
    from llama_cpp import Llama

    from .llama_cpp import _generate, _prompt_tokens

    imported = _rss()
    llm = Llama(model_path=str(gguf), n_ctx=context, n_threads=threads, n_threads_batch=threads, n_batch=512,
                verbose=False)
    loaded = _rss()
    template = llm.metadata.get("tokenizer.chat_template") if chat else None
    eos = llm.token_eos()
    generated = 0
    for p in prompts:
        ids, _, _ = _generate(llm, _prompt_tokens(llm, p, template), max_tokens, eos)
        generated += len(ids)
    end = _rss()
    return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "stages_rss_bytes": {"start": start, "runtime_imported": imported, "engine_open": loaded, "end": end},
            "context_length": context, "generated_tokens": generated}


def llama_memory(gguf: Path, prompts: list[str], max_tokens: int, context: int, threads: int, chat: bool,
                 timeout: float = 1800) -> dict[str, Any]:
    """llama.cpp's peak in a fresh child process."""
    cmd = [sys.executable, "-m", "skipper_export.bench.memory", "--llama-child", "--gguf", str(gguf),
           "--max-tokens", str(max_tokens), "--context", str(context), "--threads", str(threads)]
    if chat:
        cmd.append("--chat")
    r = subprocess.run(cmd, input=json.dumps(prompts), capture_output=True, text=True, timeout=timeout,
                       cwd=Path(__file__).resolve().parents[2])
    if r.returncode != 0:
        raise RuntimeError(f"llama.cpp memory run failed (exit {r.returncode}): {r.stderr.strip()[-500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def rows(java: dict[str, dict[str, Any]], llama: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per run: name, peak and the stage increments in bytes."""
    out = []
    for mode, mem in java.items():
        st = mem["stages_rss_bytes"]
        out.append({"run": f"skipper {mode}", "peak_rss_bytes": mem["peak_rss_bytes"], "process": st["start"],
                    "engine_open": st["engine_open"] - st["start"], "session": st["session"] - st["engine_open"],
                    "generation": mem["peak_rss_bytes"] - st["session"],
                    "kv_cache_bytes": mem.get("kv_cache_bytes"), "kv_cache_allocation": mem.get("kv_cache_allocation"),
                    "weights_file_bytes": mem.get("weights_file_bytes"),
                    "java_heap_committed_bytes": mem.get("java_heap_committed_bytes"),
                    "java_non_heap_committed_bytes": mem.get("java_non_heap_committed_bytes"),
                    "java_direct_bytes": mem.get("java_direct_bytes")})
    if llama:
        st = llama["stages_rss_bytes"]
        out.append({"run": "llama.cpp", "peak_rss_bytes": llama["peak_rss_bytes"], "process": st["start"],
                    "engine_open": st["engine_open"] - st["start"], "session": 0,
                    "generation": llama["peak_rss_bytes"] - st["engine_open"]})
    return out


def table(rs: list[dict[str, Any]], context: int) -> str:
    base = next((r["peak_rss_bytes"] for r in rs if r["run"] == "llama.cpp"), None)
    lines = [f"Peak resident memory at a {context}-token context (MB; each run a fresh process)", "",
             "| run | peak | process | + model opened | + session (KV) | + generation | vs llama.cpp |",
             "|---|---|---|---|---|---|---|"]
    for r in rs:
        ratio = f"{r['peak_rss_bytes'] / base:.2f}x" if base else "-"
        lines.append(f"| {r['run']} | {r['peak_rss_bytes'] / MB:.0f} | {r['process'] / MB:.0f} | "
                     f"{r['engine_open'] / MB:.0f} | {r['session'] / MB:.0f} | {r['generation'] / MB:.0f} | {ratio} |")
    skipper = next((r for r in rs if r["run"].startswith("skipper")), None)
    if skipper and skipper.get("weights_file_bytes", -1) and skipper["weights_file_bytes"] > 0:
        lines += ["", f"Skipper's parts: weights on disk {skipper['weights_file_bytes'] / MB:.0f} MB, KV cache "
                      f"{skipper['kv_cache_bytes'] / MB:.0f} MB at the full context"
                      f"{' (grown with the sequence: held as far as it reached)' if skipper.get('kv_cache_allocation') == 'grow' else ''}"
                      f", Java heap committed "
                      f"{skipper['java_heap_committed_bytes'] / MB:.0f} MB, non-heap (classes, JIT code) "
                      f"{skipper['java_non_heap_committed_bytes'] / MB:.0f} MB, direct buffers (KV + activations) "
                      f"{skipper['java_direct_bytes'] / MB:.0f} MB."]
    return "\n".join(lines)


def plot(rs: list[dict[str, Any]], context: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [("process", "process alone (JVM / Python)"), ("engine_open", "model opened (weights, tokenizer; llama.cpp: + KV)"),
             ("session", "session (KV cache, buffers)"), ("generation", "generation (activations, JIT)")]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rs)), 4.5))
    bottoms = [0.0] * len(rs)
    for key, label in parts:
        vals = [max(0.0, r[key] / MB) for r in rs]
        ax.bar([r["run"] for r in rs], vals, bottom=bottoms, label=label)
        bottoms = [b + v for b, v in zip(bottoms, vals)]
    for i, r in enumerate(rs):
        ax.text(i, bottoms[i] + 5, f"{r['peak_rss_bytes'] / MB:.0f} MB", ha="center", fontsize=8)
    ax.set_ylabel("peak resident memory (MB)")
    ax.set_title(f"Peak RSS by stage, {context}-token context")
    ax.set_ylim(0, max(bottoms, default=1.0) * 1.45)  # room for the legend above the tallest bar and its label
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m skipper_export.bench.memory", description=__doc__)
    p.add_argument("--java-json", type=Path, nargs="*", default=[], help="Java bench JSONs, one per mode")
    p.add_argument("--prompts", type=Path, nargs="*", default=[])
    p.add_argument("--gguf", type=Path, help="the bundle's source GGUF (default: found from its manifest)")
    p.add_argument("--no-llama-cpp", action="store_true", help="Skipper only")
    p.add_argument("--json", type=Path, help="write the rows here")
    p.add_argument("--plot", type=Path, help="PNG bar chart of the stages")
    p.add_argument("--llama-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--max-tokens", type=int, default=64, help=argparse.SUPPRESS)
    p.add_argument("--context", type=int, default=2048, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--chat", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.llama_child:
        prompts = json.loads(sys.stdin.read())
        print(json.dumps(_llama_child(a.gguf, prompts, a.max_tokens, a.context, a.threads, a.chat)))
        return 0
    if not a.java_json:
        print("error: --java-json: give at least one Java bench JSON", file=sys.stderr)
        return 2
    java: dict[str, dict[str, Any]] = {}
    first: dict[str, Any] = {}
    for f in a.java_json:
        doc = json.loads(f.read_text(encoding="utf-8"))
        if "memory" not in doc:
            print(f"error: {f}: no memory section (a Java bench from before 0.1 of this format)", file=sys.stderr)
            return 2
        first = first or doc
        java[",".join(doc["modes"])] = doc["memory"]
    context = int(next(iter(java.values()))["context_length"])
    llama = None
    if not a.no_llama_cpp:
        from .__main__ import _read_prompts
        from .llama_cpp import source_gguf

        gguf = a.gguf or source_gguf(Path(first["bundle"]))
        if gguf is None or not gguf.is_file():
            print(f"error: --gguf {gguf}: the bundle's source GGUF is needed for llama.cpp", file=sys.stderr)
            return 2
        prompts = [t for f in a.prompts for t in _read_prompts(f)]
        llama = llama_memory(gguf, prompts, int(first["max_tokens"]), context, int(first["threads"]) or 2,
                             bool(first["chat"]))
    rs = rows(java, llama)
    print(table(rs, context))
    if a.json:
        from ..bundle.writer import write_atomic

        a.json.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(a.json, (json.dumps({"context_length": context, "rows": rs, "llama_cpp": llama,
                                          "skipper": java}, indent=2) + "\n").encode())
        print(f"bench: wrote {a.json}")
    if a.plot:
        plot(rs, context, a.plot)
        print(f"bench: wrote {a.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
