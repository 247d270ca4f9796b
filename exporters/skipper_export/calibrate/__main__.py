"""``python -m skipper_export.calibrate BUNDLE``: fit the bundle's draft artefacts and store them in it.

Two steps, both by forward passes over real text none of us wrote (pydoc_data topics) and the
model's own greedy answers:
  1. exit heads (``exit_heads.py``): per-layer agreement table (+ PNG), a draft vocabulary, an
     affine adapter and a TIDE-style router at each exit layer, exported as ONNX under ``draft/``;
  2. skip-set search (``skip_search.py``) for layer-skip drafting;
  3. FiRST routers (``first_routers.py``);
  4. the feature drafter (EAGLE-style, ``feature_drafter.py``): one decoder layer over the target's
     own last-layer features, trained by backprop (JAX, CPU) on the model's answers to prompts the
     benchmark does not use, exported as ``draft/feature_drafter.onnx`` with its measured acceptance.
The manifest gains ``draft_heads`` and ``speculation`` sections. Nothing is half-written: new files
are staged in a temporary folder, moved in, and the manifest (which names them, with sha256s) is
replaced last through a rename.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any

from ..bundle.writer import BundleUpdate
from . import corpus
from ..errors import ExportError, OneLineArgumentParser
from ..machine import thread_count

DRAFT_DIR = "draft"


@dataclass(frozen=True)
class DrafterBudget:
    """What the feature drafter's training may spend (``--train-minutes`` and friends)."""

    minutes: float = 15.0
    max_updates: int = 100_000
    prompts: int = 160
    answer_tokens: int = 128
    text_tokens: int = 40_000
    steps: int = 3         # unrolled draft steps per position in training
    measure_rounds: int = 1500
    cache: Path | None = None  # --drafter-cache: harvests kept across calibrations (feature_cache.py)

    def check(self) -> None:
        if not 0 < self.minutes <= 24 * 60 or self.max_updates < 1 or self.max_updates > 10_000_000:
            raise ExportError("--train-minutes/--max-updates", f"need 0 < minutes <= 1440 and 1 <= updates <= 1e7, "
                              f"got {self.minutes}, {self.max_updates}")
        if not 0 <= self.prompts <= MAX_PASSAGES or not 1 <= self.answer_tokens <= MAX_PASSAGE_TOKENS:
            raise ExportError("--drafter-prompts/--drafter-answer-tokens", f"need 0 <= prompts <= {MAX_PASSAGES} and "
                              f"1 <= tokens <= {MAX_PASSAGE_TOKENS}, got {self.prompts}, {self.answer_tokens}")
        if not 0 <= self.text_tokens <= MAX_TOKENS or self.prompts + self.text_tokens == 0:
            raise ExportError("--drafter-text-tokens", f"need 0 <= tokens <= {MAX_TOKENS} and some training text, "
                              f"got {self.text_tokens} with {self.prompts} prompts")
MAX_TOKENS = 1 << 22          # teacher-forced tokens of one calibration (--tokens, --exit-tokens)
MAX_PASSAGES = 100_000        # --own-passages, --first-passages
MAX_PASSAGE_TOKENS = 8192     # --own-tokens, --first-tokens: at most a context
EXIT_UPDATES = 0              # --exit-updates: backprop updates per exit adapter (~0.1 s each on 2 cores);
                              # off by default: refined adapters draft better but make the lossy
                              # adaptive-depth mode exit more often and less faithfully (docs/benchmarks.md)
MAX_EXIT_UPDATES = 100_000


def _cache_dir(text: str) -> Path:
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a folder path")
    return Path(text)


def main(argv: list[str] | None = None) -> int:
    p = OneLineArgumentParser(prog="skipper calibrate", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="bundle directory (its manifest is updated in place)")
    p.add_argument("--tokens", type=int, default=768, help="teacher-forced tokens scored per skip set (default 768)")
    p.add_argument("--own", type=int, default=192, help="of which the model's own greedy answers (default 192)")
    p.add_argument("--exit-tokens", type=int, default=16384,
                   help="pydoc_data tokens of the exit-head fit (default 16384)")
    p.add_argument("--own-passages", type=int, default=32,
                   help="chat prompts whose greedy answers join the exit-head fit (default 32)")
    p.add_argument("--own-tokens", type=int, default=128, help="tokens generated per chat prompt (default 128)")
    p.add_argument("--draft-vocab", type=int, default=8192,
                   help="draft vocabulary size (default 8192; more than the model's vocabulary means all of it)")
    p.add_argument("--exit-updates", type=int, default=EXIT_UPDATES,
                   help="backprop updates refining each exit adapter from its ridge fit to the final layer's "
                        "distribution, e.g. 300 (default 0: the ridge fits; refined adapters draft better but the "
                        "lossy adaptive-depth mode exits less faithfully with them; needs jax)")
    p.add_argument("--exit-layers", default="auto",
                   help="comma-separated exit layers, or auto: every 2nd layer from a third of the depth")
    p.add_argument("--seed", type=int, default=0, help="router initialisation and batches (default 0)")
    p.add_argument("--first-passages", type=int, default=64,
                   help="passages whose per-layer skip agreement trains the FiRST routers (default 64)")
    p.add_argument("--first-tokens", type=int, default=64, help="tokens of each such passage (default 64)")
    p.add_argument("--skip-search", action=argparse.BooleanOptionalAction, default=True,
                   help="also search a layer-skip set (default on)")
    p.add_argument("--feature-drafter", action=argparse.BooleanOptionalAction, default=True,
                   help="also train the feature drafter (default on; needs jax)")
    p.add_argument("--train-minutes", type=float, default=15.0,
                   help="time budget of the feature drafter's training (default 15)")
    p.add_argument("--max-updates", type=int, default=100_000,
                   help="at most this many training updates of the feature drafter (default 100000)")
    p.add_argument("--drafter-prompts", type=int, default=160,
                   help="prompts whose greedy answers the feature drafter trains on (default 160)")
    p.add_argument("--drafter-answer-tokens", type=int, default=128,
                   help="tokens generated per such prompt (default 128)")
    p.add_argument("--drafter-text-tokens", type=int, default=40_000,
                   help="pydoc_data tokens the feature drafter also trains on (default 40000)")
    p.add_argument("--drafter-cache", type=_cache_dir, default=None, metavar="DIR",
                   help="keep the feature drafter's harvest (answers + features) in DIR and reuse it when the "
                        "bundle's model and the text budget match (default: none)")
    p.add_argument("--threads", type=thread_count, default=2,
                   help="intra-op threads, capped at the available processors (default 2)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        budget = DrafterBudget(a.train_minutes, a.max_updates, a.drafter_prompts, a.drafter_answer_tokens,
                               a.drafter_text_tokens, cache=a.drafter_cache)
        budget.check()  # also when the drafter is off: a bad value is an error either way
        result = calibrate(a.bundle, a.tokens, a.own, a.threads, progress=not a.no_progress,
                           exit_tokens=a.exit_tokens, own_passages=a.own_passages, own_tokens=a.own_tokens,
                           draft_vocab=a.draft_vocab, exit_layers=a.exit_layers, seed=a.seed,
                           skip_search=a.skip_search, first_passages=a.first_passages, first_tokens=a.first_tokens,
                           drafter=budget if a.feature_drafter else None, exit_updates=a.exit_updates)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file system refusal the checks did not foresee: still one line
        print(f"error: {ExportError(str(e.filename or a.bundle), str(e.strerror or e))}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(result))
    else:
        print(summary(a.bundle, result))
    return 0


def summary(bundle: Path, result: dict) -> str:
    lines = [f"{bundle}: calibrated in {result['seconds']} s"]
    d = result.get("draft_heads")
    if d:
        lines.append(f"exit heads ({d['tokens']} teacher-forced tokens, {d['own_tokens']} of them the model's own; "
                     f"draft vocabulary {d['vocab_size']}):")
        lines.append("  layer  training-free  calibrated  own-text  router AUC  confidence AUC  est. speed-up")
        for e in d["exits"]:
            mark = " <- default" if e["layer"] == d["default_exit"] else ""
            own = "-" if e["agreement_own"] is None else f"{e['agreement_own']:.3f}"
            lines.append(f"  {e['layer']:5d}  {e['raw_agreement']:13.3f}  {e['agreement']:10.3f}  "
                         f"{own:>8}  {e['router']['auc']:10.3f}  {e['confidence']['auc']:14.3f}  "
                         f"{e['estimated_speedup']:12.2f}x{mark}")
        refined = [e for e in d["exits"] if e.get("adapter", {}).get("updates")]
        if refined:
            lines.append("  adapters refined by backprop (validation agreement, ridge -> kept): " + ", ".join(
                f"{e['layer']}: {e['adapter']['val_agreement_ridge']:.3f} -> {e['adapter']['val_agreement']:.3f}"
                for e in refined))
    f = result.get("first_routers")
    if f:
        if f["agreement_first"] is not None:
            lines.append(f"FiRST routers: per-sequence skip sets of {f['skip_count']} layer(s): agreement "
                         f"{f['agreement_first']:.3f} vs {f['agreement_global']:.3f} for the best global set "
                         f"(test passages)")
    s = result.get("speculation")
    if s:
        lines.append(f"skip set {s['skip_layers']} (agreement {s['agreement']:.3f}, estimated {s['estimated_speedup']:.2f}x"
                     f"{'' if s['pays'] else ': layer-skip drafting does not pay for this model'})")
    fd = result.get("feature_drafter")
    if fd:
        m, t = fd["measured"], fd["training"]
        lines.append(f"feature drafter: trained {t['updates']} updates in {t['seconds']} s on {t['tokens']} tokens "
                     f"({t['own_tokens']} the model's own), loss {t['loss_first']} -> {t['loss_last']}")
        lines.append(f"  held-out acceptance per draft position {m['acceptance']} over {m['rounds']} rounds; "
                     f"draft cost {m['draft_cost']:.3f} of a step; estimated {max(m['estimated_speedup']):.2f}x "
                     f"at {m['draft_len']} drafts per round")
    return "\n".join(lines)


def _chat(manifest: dict) -> Any:
    template = manifest.get("chat_template")
    if not template:
        return None
    import jinja2.sandbox

    tmpl = jinja2.sandbox.ImmutableSandboxedEnvironment().from_string(template)
    return lambda text: tmpl.render(messages=[{"role": "user", "content": text}], add_generation_prompt=True)


def calibrate(bundle: Path, budget: int, own: int, threads: int, progress: bool = True, *, exit_tokens: int = 16384,
              own_passages: int = 32, own_tokens: int = 128, draft_vocab: int = 8192, exit_layers: str = "auto",
              seed: int = 0, skip_search: bool = True, first_passages: int = 64, first_tokens: int = 64,
              drafter: DrafterBudget | None = None, exit_updates: int = EXIT_UPDATES) -> dict:
    from ..verify.bundle_session import BundleSession, load_manifest
    from ..verify.tokenizer import BundleTokenizer

    if budget < 64 or own < 0 or own >= budget:
        raise ExportError("--tokens/--own", f"need 64 <= tokens and 0 <= own < tokens, got {budget}, {own}")
    if first_passages < 2 or first_tokens < 4:
        raise ExportError("--first-passages/--first-tokens", f"need at least 2 passages of 4 tokens, got "
                          f"{first_passages}, {first_tokens}")
    if exit_tokens < 64 or own_passages < 0 or own_tokens < 1 or draft_vocab < 2:
        raise ExportError("--exit-tokens/--own-passages/--own-tokens/--draft-vocab",
                          f"need exit-tokens >= 64, own-passages >= 0, own-tokens >= 1, draft-vocab >= 2; got "
                          f"{exit_tokens}, {own_passages}, {own_tokens}, {draft_vocab}")
    # Upper bounds: what 2 cores calibrate in hours, not the memory of a size read unchecked.
    for flag, value, most in (("--tokens", budget, MAX_TOKENS), ("--exit-tokens", exit_tokens, MAX_TOKENS),
                              ("--own-passages", own_passages, MAX_PASSAGES), ("--first-passages", first_passages,
                                                                               MAX_PASSAGES),
                              ("--own-tokens", own_tokens, MAX_PASSAGE_TOKENS),
                              ("--first-tokens", first_tokens, MAX_PASSAGE_TOKENS), ("--seed", seed, 2**32 - 1),
                              ("--draft-vocab", draft_vocab, 1 << 24)):
        if value > most:
            raise ExportError(flag, f"at most {most}, got {value}")
    if seed < 0:
        raise ExportError("--seed", f"must be >= 0, got {seed}")
    if not 0 <= exit_updates <= MAX_EXIT_UPDATES:
        raise ExportError("--exit-updates", f"need 0 <= updates <= {MAX_EXIT_UPDATES}, got {exit_updates}")
    if exit_updates:
        try:
            import jax  # noqa: F401
            import optax  # noqa: F401
        except ImportError:
            raise ExportError("--exit-updates", "training the exit adapters needs jax and optax (./skipper setup "
                              "installs them); --exit-updates 0 keeps the ridge fits") from None
    if drafter is not None:
        drafter.check()
    t0 = time.perf_counter()
    manifest = load_manifest(bundle)
    layers = _exit_layers(exit_layers, int(manifest["model"]["num_layers"]))
    max_position = int(manifest["model"]["max_position"])
    if skip_search and budget + own > max_position:
        raise ExportError("--tokens", f"the skip search scores --tokens + --own ({budget} + {own}) tokens as one "
                          f"sequence, more than the model's max_position {max_position}")
    # One sequence at a time is cached (the session is truncated between passages).
    max_seq = min(max(budget + 512, 1024), max_position)
    sess = BundleSession(bundle, max_seq=max_seq, threads=threads, verify=False)
    tok = BundleTokenizer(bundle, manifest)
    chat = _chat(manifest)
    eos = set(int(i) for i in manifest["tokenizer"].get("eos_ids") or [])

    def greedy(prompt: list[int], n: int) -> list[int]:
        out = sess.greedy(prompt, n) if not eos else _greedy_until(sess, prompt, n, eos)
        return out

    staging = Path(tempfile.mkdtemp(dir=bundle, prefix=".calibrate-"))
    try:
        files: dict[str, bytes] = {}
        result: dict[str, Any] = {}
        draft = _draft_heads(sess, manifest, tok.encode, greedy, chat, exit_tokens, own_passages, own_tokens,
                             draft_vocab, layers, seed, progress, files, exit_updates)
        result["draft_heads"] = draft["summary"]
        if skip_search:
            result["speculation"] = _skip_search(sess, tok.encode, greedy, chat, budget, own, progress, files)
        count = len(result["speculation"]["skip_layers"]) if skip_search else max(1, sess.num_layers // 10)
        first = _first_routers(sess, manifest, draft["collected"], draft["passages"], count, progress, files,
                               first_passages, first_tokens)
        result["first_routers"] = {k: v for k, v in first.items() if k not in ("file", "dtype", "shape")}
        feature = None
        answers: list[list[int]] = []  # the drafter's held-out-clean answers (not the exit passages' seeds)
        if drafter is not None:
            feature = _feature_drafter(sess, manifest, tok.encode, greedy, chat, draft, drafter, seed, progress, files,
                                       answers)
            result["feature_drafter"] = {k: v for k, v in feature.items() if k not in ("file", "inputs", "outputs")}
            _agreement_files(files, draft["record"], draft["plot"], feature)
        draft_corpus = None
        if answers:
            files[corpus.CORPUS_FILE] = corpus.corpus_bytes(answers, int(manifest["model"]["vocab_size"]))
            draft_corpus = corpus.section(answers, "calibration")
            result["draft_corpus"] = {k: draft_corpus[k] for k in ("tokens", "sequences")}
        result["seconds"] = round(time.perf_counter() - t0, 1)
        _commit(bundle, manifest, staging, files, draft["section"], result.get("speculation"), first, feature,
                draft_corpus)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _greedy_until(sess, prompt: list[int], n: int, eos: set[int]) -> list[int]:
    sess.truncate(0)
    logits, _ = sess.forward(prompt)
    out = [int(logits[-1].argmax())]
    while len(out) < n and out[-1] not in eos and sess.length + 1 < sess.max_seq:
        logits, _ = sess.forward([out[-1]])
        out.append(int(logits[-1].argmax()))
    return out


def _exit_layers(spec: str, num_layers: int) -> list[int]:
    if spec == "auto":
        start = max(1, num_layers // 3)
        return list(range(start, num_layers, 2)) or [num_layers - 1]
    try:
        layers = sorted({int(x) for x in spec.split(",") if x.strip()})
    except ValueError:
        raise ExportError("--exit-layers", f"'{spec}' is not 'auto' or a comma-separated list of layers") from None
    bad = [l for l in layers if not 1 <= l < num_layers]
    if not layers or bad:
        raise ExportError("--exit-layers", f"exit layers must be in [1, {num_layers - 1}] for this model, got '{spec}'")
    return layers


def _draft_heads(sess, manifest: dict, encode, greedy, chat, exit_tokens: int, own_passages: int, own_tokens: int,
                 draft_vocab: int, layers: list[int], seed: int, progress: bool, files: dict[str, bytes],
                 exit_updates: int = 0) -> dict:
    import numpy as np
    from tqdm import tqdm

    from .collect import TEST, collect, probe_head
    from .draft_graphs import draft_head_graph, exit_graph
    from .exit_heads import draft_vocabulary, early_exit_speedup, fit_adapter, layer_agreement, train_router
    from .exit_training import RIDGE_ONLY, refine
    from .skip_search import HEAD_SHARE, VERIFY_SLOPE
    from .text import exit_passages
    from ..graphs.contract import TensorSpec
    from ..bundle.manifest import graph_entry

    m = manifest["model"]
    hidden, vocab, eps, num_layers = int(m["hidden_size"]), int(m["vocab_size"]), float(m["rms_norm_eps"]), int(m["num_layers"])
    flavour = manifest["flavour"]
    accuracy = 4 if manifest["weights"].get("matmul_accuracy") == "int8" else 0
    with tqdm(total=own_passages, desc="own answers", unit="answer", disable=not progress, leave=False) as bar:
        passages = exit_passages(encode, greedy, chat, exit_tokens, own_passages, own_tokens, progress=bar.update)
    c = collect(sess, passages, progress)
    head = probe_head(sess, hidden)  # [H, V]
    vocab_ids = draft_vocabulary(c, draft_vocab, vocab)
    reduced = np.ascontiguousarray(head[:, vocab_ids])  # [H, N]
    test = c.rows(TEST)
    table_rows = test[:: max(1, len(test) // 2048)]
    raw = layer_agreement(c, head, eps, table_rows)
    exits, adapters = [], {}
    for layer in tqdm(layers, desc="exit heads", unit="layer", disable=not progress, leave=False):
        e = fit_adapter(c, layer, reduced, vocab_ids, head, eps)
        # Ridge matches the final layer's state; backprop then matches its prediction (KL through the
        # draft head), starting there: the router learns on the adapter that ships.
        adapters[layer] = (refine(c, e, reduced, vocab_ids, eps, seed, updates=exit_updates).record()
                           if exit_updates else RIDGE_ONLY)
        train_router(c, e, reduced, vocab_ids, eps, seed)
        exits.append(e)
    n_draft = len(vocab_ids)
    entries, summaries = [], []
    width = len(str(num_layers))
    hspec = [TensorSpec("hidden", "float32", [1, "seq", hidden])]
    for e in exits:
        est, k = early_exit_speedup(e.agreement_own if e.agreement_own == e.agreement_own else e.agreement,
                                    e.layer, num_layers, n_draft, vocab, VERIFY_SLOPE, HEAD_SHARE)
        rel = f"{DRAFT_DIR}/exit_{e.layer:0{width}d}.onnx"
        files[rel] = exit_graph(e, hidden, eps, flavour).SerializeToString()
        figures = {"raw_agreement": round(e.raw_agreement, 4), "agreement": round(e.agreement, 4),
                   "agreement_own": _finite(e.agreement_own), "estimated_speedup": round(est, 3), "draft_len": k}
        router = {"auc": round(e.router_auc, 4), "thresholds": e.router_table}
        entries.append(graph_entry(rel, hspec, [TensorSpec("hidden_out", "float32", [1, "seq", hidden]),
                                                TensorSpec("accept_prob", "float32", [1, "seq"])],
                                   layer=e.layer, **figures, ridge=e.ridge, adapter=adapters[e.layer], router=router,
                                   confidence={"auc": round(e.confidence_auc, 4),
                                               "thresholds": e.confidence_table}))
        summaries.append({"layer": e.layer, **figures, "adapter": adapters[e.layer], "router": {"auc": router["auc"]},
                          "confidence": {"auc": round(e.confidence_auc, 4)}})
    files[f"{DRAFT_DIR}/head.onnx"] = draft_head_graph(reduced, eps, flavour, accuracy).SerializeToString()
    files[f"{DRAFT_DIR}/vocab.i32"] = vocab_ids.astype("<i4").tobytes()
    best = max(summaries, key=lambda s: s["estimated_speedup"])
    own_count = int(c.own.sum())
    calib = {"tokens": int(len(c.final)), "own_tokens": own_count, "test_tokens": int(len(test)), "seed": seed,
             "vocab_coverage": round(float(np.isin(c.final[test], vocab_ids).mean()), 4)}
    section = {
        "vocab": {"file": f"{DRAFT_DIR}/vocab.i32", "dtype": "int32", "size": n_draft},
        "head": graph_entry(f"{DRAFT_DIR}/head.onnx", hspec, [TensorSpec("logits", "float32", [1, "seq", n_draft])]),
        "default_exit": best["layer"],
        "pays": best["estimated_speedup"] > 1.0,
        "exits": entries,
        "calibration": calib,
    }
    record = {"layers_run": list(range(num_layers + 1)), "training_free": [round(x, 4) for x in raw],
              "exits": summaries, **calib, "draft_vocab": n_draft}
    plot = {"raw": raw, "exits": [(e.layer, e.agreement, e.raw_agreement) for e in exits], "num_layers": num_layers,
            "title": f"{manifest['model']['name']}: teacher-forced top-1 agreement ({len(table_rows)} held-out tokens)"}
    _agreement_files(files, record, plot, None)
    summary = {"exits": summaries, "default_exit": best["layer"], "vocab_size": n_draft, **calib,
               "training_free": record["training_free"]}
    return {"section": section, "summary": summary, "collected": c, "passages": passages, "reduced": reduced,
            "vocab_ids": vocab_ids, "record": record, "plot": plot}


def _agreement_files(files: dict[str, bytes], record: dict, plot: dict, feature: dict | None) -> None:
    """calibration/agreement.json and .png: the exits' agreement and, once trained, the feature
    drafter's held-out acceptance per draft position, mean accepted per round and cost."""
    from .plot import agreement_png

    if feature is not None:
        m = feature["measured"]
        record = {**record, "feature_drafter": {
            "acceptance_per_position": m["acceptance"], "mean_accepted_per_round": m["mean_accepted"],
            "rounds": m["rounds"], "draft_cost": m["draft_cost"], "estimated_speedup": m["estimated_speedup"],
            "draft_len": m["draft_len"]}}
    files["calibration/agreement.json"] = (json.dumps(record, indent=1) + "\n").encode()
    png = Path(tempfile.mkstemp(suffix=".png")[1])
    try:
        agreement_png(png, plot["raw"], plot["exits"], plot["title"], record.get("feature_drafter"),
                      plot["num_layers"])
        files["calibration/agreement.png"] = png.read_bytes()
    finally:
        png.unlink(missing_ok=True)


def _feature_drafter(sess, manifest: dict, encode, greedy, chat, draft: dict, budget: DrafterBudget, seed: int,
                     progress: bool, files: dict[str, bytes], answers: list[list[int]]) -> dict:
    """Harvest, train, export and measure the feature drafter; its manifest section. The harvest's
    own answers are appended to ``answers`` (the draft corpus)."""
    from tqdm import tqdm

    from ..bundle.manifest import config_from_manifest
    from .features import harvest
    from .text import drafter_passages

    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError:
        raise ExportError("--feature-drafter", "needs jax and optax (./skipper setup installs them); "
                          "--no-feature-drafter calibrates without it") from None
    if manifest["weights"]["activations"] != "float32":
        raise ExportError("--feature-drafter", f"needs float32 activations, the bundle has "
                          f"{manifest['weights']['activations']} (--no-feature-drafter calibrates without it)")
    config = config_from_manifest(manifest)
    cached, cache_path = None, None
    if budget.cache is not None:
        from . import feature_cache

        key = feature_cache.cache_key(manifest, budget.prompts, budget.answer_tokens, budget.text_tokens)
        cache_path = budget.cache / f"features-{key}.npz"
        cached = feature_cache.load(cache_path, config.hidden_size)
    if cached is not None:
        feats, timings = cached
        t_text, t_harvest = float(timings.get("text_seconds", 0.0)), float(timings.get("harvest_seconds", 0.0))
        if progress:
            print(f"drafter: reusing the harvest in {cache_path} ({len(feats.final)} tokens)", file=sys.stderr)
    else:
        t0 = time.perf_counter()
        with tqdm(total=budget.prompts, desc="drafter: own answers", unit="answer", disable=not progress,
                  leave=False) as bar:
            passages = drafter_passages(encode, greedy, chat, budget.text_tokens, budget.prompts,
                                        budget.answer_tokens, progress=bar.update)
        t_text = time.perf_counter() - t0
        with tqdm(total=sum(len(t) for t, _ in passages), desc="drafter: features", unit="tok",
                  disable=not progress, leave=False) as bar:
            feats = harvest(sess, passages, progress=bar.update)
        t_harvest = time.perf_counter() - t0 - t_text
        if cache_path is not None:
            try:
                feature_cache.store(cache_path, feats, {"text_seconds": t_text, "harvest_seconds": t_harvest})
            except OSError as e:
                raise ExportError(f"--drafter-cache {budget.cache}", f"cannot write the harvest: "
                                  f"{e.strerror or e}") from None
    answers += corpus.answers_of_harvest(feats.final, feats.starts, feats.own_from)
    return trained_drafter(sess, manifest, feats, draft["reduced"], draft["vocab_ids"], budget, seed, progress, files,
                           {"text_seconds": round(t_text, 1), "harvest_seconds": round(t_harvest, 1)})


def trained_drafter(sess, manifest: dict, feats, reduced, vocab_ids, budget: DrafterBudget, seed: int, progress: bool,
                    files: dict[str, bytes], timings: dict) -> dict:
    """Train, export and measure the feature drafter on a harvest; its graph goes into ``files``,
    its manifest section is returned."""
    from tqdm import tqdm

    from ..bundle.manifest import config_from_manifest, graph_entry
    from ..graphs.contract import TensorSpec, kv_layout, layer_io
    from .feature_drafter import train
    from .feature_eval import DrafterSession, measure
    from .feature_graph import feature_drafter_graph

    config = config_from_manifest(manifest)
    with tqdm(total=budget.max_updates, desc="drafter: training", unit="update", disable=not progress,
              leave=False) as bar:
        last = [0]

        def shown(entry: dict) -> None:
            bar.update(entry["step"] - last[0])
            last[0] = entry["step"]
            bar.set_postfix(loss=entry["loss"], accept=entry["acceptance"][0])

        trained = train(feats, config, reduced, vocab_ids, steps=budget.steps, seed=seed, minutes=budget.minutes,
                        max_updates=budget.max_updates, progress=shown)
    acc = 4 if manifest["weights"].get("matmul_accuracy") == "int8" else 0
    mode = str(manifest["weights"]["mode"])
    kv = str(manifest["kv_cache"]["dtype"])
    graph = feature_drafter_graph(trained, config, reduced, mode, manifest["flavour"], "float32", acc,
                                  kv).SerializeToString()
    test = [i for i in feats.test_ids() if feats.own_from[i] < feats.starts[i + 1] - feats.starts[i]]
    with tqdm(total=budget.measure_rounds, desc="drafter: held-out rounds", unit="round", disable=not progress,
              leave=False) as bar:
        measured = measure(sess, DrafterSession(sess, graph), feats, vocab_ids, test, max_rounds=budget.measure_rounds,
                           progress=bar.update)
    rel = f"{DRAFT_DIR}/feature_drafter.onnx"
    files[rel] = graph
    h = config.hidden_size
    ins, outs = layer_io(h, config.num_kv_heads, config.head_dim, "float32", kv_layout(manifest["flavour"]), kv)
    n = len(vocab_ids)
    r = trained.report
    entry = graph_entry(
        rel, [TensorSpec("feature", "float32", [1, "seq", h]), TensorSpec("embedded", "float32", [1, "seq", h])] + ins[1:],
        [TensorSpec("feature_out", "float32", [1, "seq", h]), TensorSpec("logits", "float32", [1, "seq", n])] + outs[1:],
        vocab={"file": f"{DRAFT_DIR}/vocab.i32", "dtype": "int32", "size": n},
        measured=measured.summary(), confidence={"thresholds": measured.confidence_table},
        training={"tokens": int(len(feats.final)), "own_tokens": int(sum(int(feats.starts[i + 1] - feats.starts[i]
                                                                              - feats.own_from[i])
                                                                          for i in range(feats.passages))),
                  "passages": feats.passages, "updates": r.steps, "seconds": r.seconds, **timings,
                  "loss_first": round(r.loss_first, 4), "loss_last": round(r.loss_last, 4), "seed": seed,
                  "unrolled_steps": budget.steps,
                  "history": r.history[-20:]})
    return entry


def _first_routers(sess, manifest: dict, c, passages, skip_count: int, progress: bool, files: dict[str, bytes],
                   max_passages: int, max_tokens: int) -> dict:
    """FiRST-style per-sequence routers: draft/first_routers.f32 [L][H+1] and their figures."""
    from tqdm import tqdm

    from .first_routers import fit

    num_layers = int(manifest["model"]["num_layers"])
    eps = float(manifest["model"]["rms_norm_eps"])

    def forward(tokens: list[int], skip: frozenset[int]):
        sess.truncate(0)
        logits, _ = sess.forward(tokens, skip=skip)
        sess.truncate(0)
        return logits.argmax(-1)

    with tqdm(total=num_layers, desc="FiRST routers", unit="layer", disable=not progress, leave=False) as bar:
        r = fit(c, passages, forward, num_layers, eps, skip_count, max_tokens=max_tokens, max_passages=max_passages,
                progress=bar.update)
    rel = f"{DRAFT_DIR}/first_routers.f32"
    files[rel] = r.weights.astype("<f4").tobytes()
    return {"file": rel, "dtype": "float32", "shape": list(r.weights.shape), "pooling": f"mean_rms_last_{max_tokens}",
            "skip_count": r.skip_count, "agreement_first": _finite(r.agreement_first),
            "agreement_global": _finite(r.agreement_global), "single_skip_agreement": r.label_mean}


def _finite(x: float) -> float | None:
    """A figure for the manifest: None where there was nothing to measure (tiny calibrations)."""
    return None if x != x else round(x, 4)


def _skip_search(sess, encode, greedy, chat, budget: int, own: int, progress: bool, files: dict[str, bytes]) -> dict:
    from tqdm import tqdm

    from .skip_search import agreement, search
    from .text import calibration_tokens

    tokens, sources = calibration_tokens(encode, greedy, chat, budget, own)
    tokens = tokens[: budget + own]
    n_layers = sess.num_layers
    sess.truncate(0)
    full_logits, _ = sess.forward(tokens)
    full = full_logits.argmax(-1)
    bar = tqdm(total=n_layers + int(n_layers * 0.6), desc="skip search", unit="eval", disable=not progress, leave=False)

    def agreement_of(skip: frozenset[int]) -> float:
        sess.truncate(0)
        logits, _ = sess.forward(tokens, skip=skip)
        sess.truncate(0)
        bar.update()
        return agreement(logits.argmax(-1), full)

    best, trail = search(n_layers, agreement_of)
    bar.close()
    result = {"skip_layers": list(best.layers), "agreement": round(best.agreement, 4),
              "estimated_speedup": round(best.speedup, 3), "pays": best.speedup > 1.0,
              "draft_len": best.draft_len, "tokens": len(tokens), **sources}
    files["calibration/skip_search.json"] = (json.dumps({"result": result, "evaluations": trail}, indent=1) + "\n").encode()
    return result


def _commit(bundle: Path, manifest: dict, staging: Path, files: dict[str, bytes], draft: dict | None,
            speculation: dict | None, first: dict | None = None, feature: dict | None = None,
            draft_corpus: dict | None = None) -> None:
    """Stage every new file and update the manifest's sections; ``BundleUpdate`` moves the draft
    folder and calibration files in and replaces the manifest last."""
    update = BundleUpdate(bundle, staging)
    for rel, data in files.items():
        update.stage(rel, data)
    if draft is not None:
        stale = [k for k in manifest["files"] if k.startswith(DRAFT_DIR + "/") and k not in files]
        for k in stale:
            del manifest["files"][k]
        manifest["draft_heads"] = draft
    if first is not None:
        manifest["first_routers"] = first
    if feature is not None:
        manifest["feature_drafter"] = feature
    elif draft is not None:
        manifest.pop("feature_drafter", None)  # its file left with the old draft folder
    if draft_corpus is not None:
        manifest["draft_corpus"] = draft_corpus
    elif draft is not None:
        manifest.pop("draft_corpus", None)
    if speculation is not None:
        manifest["speculation"] = {
            "skip_layers": speculation["skip_layers"],
            "calibration": {k: speculation[k] for k in ("agreement", "estimated_speedup", "pays", "draft_len", "tokens",
                                                         "pydoc_tokens", "self_generated_tokens")},
        }
    update.commit(manifest, replace_dirs=(DRAFT_DIR,))


if __name__ == "__main__":
    sys.exit(main())
