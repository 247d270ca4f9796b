"""The llama.cpp baseline: the same GGUF, prompts, thread count and greedy decoding as the Java
bench, through the PyPI package llama-cpp-python (installed by ``./skipper bench``, not the tests).

Decode speed is measured as the Java bench does: (tokens - 1) / (time from the first generated
token to the last). Modes: ``llama.cpp`` (plain) and ``llama.cpp-lookup`` (its prompt-lookup
speculative decoding, ``LlamaPromptLookupDecoding``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

MODES = ("llama.cpp", "llama.cpp-lookup")


def run(gguf: Path, sets: dict[str, list[str]], modes: list[str], max_tokens: int, threads: int, chat: bool,
        context: int = 2048, repeat: int = 1, log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """{set: {mode: {"mean": {...}, "prompts": [...]}}} for the llama.cpp modes; each prompt runs
    `repeat` times and the fastest decode counts, as in the Java bench."""
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    out: dict[str, dict[str, Any]] = {s: {} for s in sets}
    for mode in modes:
        draft = LlamaPromptLookupDecoding(num_pred_tokens=4) if mode == "llama.cpp-lookup" else None
        # A draft model makes llama-cpp-python evaluate several tokens per call and keep their
        # logits: it needs logits_all.
        llm = Llama(model_path=str(gguf), n_ctx=context, n_threads=threads, n_threads_batch=threads,
                    n_batch=512, verbose=False, draft_model=draft, logits_all=draft is not None)
        template = llm.metadata.get("tokenizer.chat_template") if chat else None
        eos = llm.token_eos()
        _generate(llm, _prompt_tokens(llm, next(iter(sets.values()))[0], template), min(8, max_tokens), eos)  # warm-up
        for name, prompts in sets.items():
            rows = []
            for i, p in enumerate(prompts):
                tokens = _prompt_tokens(llm, p, template)
                ids, ttft, rate = max((_generate(llm, tokens, max_tokens, eos) for _ in range(repeat)),
                                      key=lambda r: -1.0 if math.isnan(r[2]) else r[2])
                rows.append({"index": i, "prompt_tokens": len(tokens), "generated_tokens": len(ids),
                             "ttft_ms": ttft * 1e3, "decode_tokens_per_s": rate, "tokens": ids})
                log(f"{name} {mode} #{i}: {len(tokens)} prompt + {len(ids)} generated tokens, "
                    f"TTFT {ttft * 1e3:.1f} ms, decode {rate:.1f} tok/s")
            rates = [r["decode_tokens_per_s"] for r in rows if r["generated_tokens"] >= 2]
            mean = {"ttft_ms": sum(r["ttft_ms"] for r in rows) / len(rows),
                    "decode_tokens_per_s": sum(rates) / len(rates) if rates else float("nan")}
            out[name][mode] = {"mean": mean, "prompts": rows}
        llm.close() if hasattr(llm, "close") else None
    return out


def _prompt_tokens(llm: Any, prompt: str, template: str | None) -> list[int]:
    if template:
        import jinja2

        text = jinja2.Environment().from_string(template).render(
            messages=[{"role": "user", "content": prompt}], add_generation_prompt=True)
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    return llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)


def _generate(llm: Any, tokens: list[int], max_tokens: int, eos: int) -> tuple[list[int], float, float]:
    """Greedy: (ids, seconds to the first token, decode tokens/s)."""
    llm.reset()  # no prefix reuse between prompts: every prompt is prefilled, as in the Java bench
    start = time.perf_counter()
    ids: list[int] = []
    first = last = start
    for tok in llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
        now = time.perf_counter()
        if not ids:
            first = now
        last = now
        if tok == eos:
            ids.append(int(tok))
            break
        ids.append(int(tok))
        if len(ids) >= max_tokens:
            break
    rate = (len(ids) - 1) / (last - first) if len(ids) >= 2 and last > first else float("nan")
    return ids, first - start, rate


def source_gguf(bundle: Path) -> Path | None:
    """The GGUF a bundle was exported from, when it is a known model's (matched by file name)."""
    import yaml

    from ..load.source import KNOWN_MODELS, resolve_source

    name = (yaml.safe_load((bundle / "manifest.yaml").read_text(encoding="utf-8")).get("source") or {}).get("name")
    for known in KNOWN_MODELS:
        try:
            path = resolve_source(known)
        except Exception:  # noqa: BLE001 - a known model that is not installed is simply not a match
            continue
        if path.name == name:
            return path
    return None
