"""Tests for the independent numpy reference model (skipper_export.reference).

Every checkpoint here is a tiny random model built in the test itself, so the suite runs in seconds.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    import skipper_export  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e exporters`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safetensors.numpy import save_file

from skipper_export.errors import ExportError
from skipper_export.reference.__main__ import main as cli_main
from skipper_export.reference.checkpoint_reader import RefConfig, RopeScaling, load_weights
from skipper_export.reference.model import RefKVCache, ReferenceModel, rope_inv_freq

L, H, NH, NKV, F, V = 2, 64, 4, 2, 96, 300
D = H // NH
THETA = 10000.0
EPS = 1e-5
TOKENS = [1, 17, 250, 3, 99, 42, 7, 7, 123, 0, 299, 5]


# ------------------------------------------------------------------------------------------------
# Tiny checkpoint builders
# ------------------------------------------------------------------------------------------------


def make_weights(seed: int = 0, tied: bool = False, bias: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def r(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {"model.embed_tokens.weight": r(V, H, scale=1.0), "model.norm.weight": 1.0 + r(H, scale=0.1)}
    if not tied:
        w["lm_head.weight"] = r(V, H)
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1.0 + r(H, scale=0.1)
        w[p + "post_attention_layernorm.weight"] = 1.0 + r(H, scale=0.1)
        w[p + "self_attn.q_proj.weight"] = r(NH * D, H)
        w[p + "self_attn.k_proj.weight"] = r(NKV * D, H)
        w[p + "self_attn.v_proj.weight"] = r(NKV * D, H)
        w[p + "self_attn.o_proj.weight"] = r(H, NH * D)
        w[p + "mlp.gate_proj.weight"] = r(F, H)
        w[p + "mlp.up_proj.weight"] = r(F, H)
        w[p + "mlp.down_proj.weight"] = r(H, F)
        if bias:
            w[p + "self_attn.q_proj.bias"] = r(NH * D)
            w[p + "self_attn.k_proj.bias"] = r(NKV * D)
            w[p + "self_attn.v_proj.bias"] = r(NKV * D)
    return w


def hf_config(tied: bool = False, model_type: str = "llama", rope_scaling: dict | None = None) -> dict:
    return {
        "model_type": model_type,
        "architectures": ["Qwen2ForCausalLM" if model_type == "qwen2" else "LlamaForCausalLM"],
        "num_hidden_layers": L,
        "hidden_size": H,
        "intermediate_size": F,
        "num_attention_heads": NH,
        "num_key_value_heads": NKV,
        "rms_norm_eps": EPS,
        "rope_theta": THETA,
        "rope_scaling": rope_scaling,
        "tie_word_embeddings": tied,
        "max_position_embeddings": 512,
        "vocab_size": V,
    }


def write_hf(folder: Path, weights: dict[str, np.ndarray], config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_file(weights, str(folder / "model.safetensors"))
    return folder


def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """What llama.cpp's converter does to q/k rows (rotate-half -> interleaved pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(path: Path, weights: dict[str, np.ndarray], arch: str = "llama") -> Path:
    import gguf

    wr = gguf.GGUFWriter(str(path), arch)
    wr.add_block_count(L)
    wr.add_context_length(512)
    wr.add_embedding_length(H)
    wr.add_feed_forward_length(F)
    wr.add_head_count(NH)
    wr.add_head_count_kv(NKV)
    wr.add_layer_norm_rms_eps(EPS)
    wr.add_rope_freq_base(THETA)
    wr.add_rope_dimension_count(D)
    wr.add_vocab_size(V)

    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    layer = {
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "self_attn.q_proj.bias": "attn_q.bias",
        "self_attn.k_proj.bias": "attn_k.bias",
        "self_attn.v_proj.bias": "attn_v.bias",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    for hf_name, arr in weights.items():
        if hf_name in names:
            name = names[hf_name]
        else:
            _, _, idx, rest = hf_name.split(".", 3)
            name = f"blk.{idx}.{layer[rest]}"
        if arch == "llama" and ".self_attn.q_proj." in hf_name:
            arr = llama_cpp_permute(arr, NH)
        elif arch == "llama" and ".self_attn.k_proj." in hf_name:
            arr = llama_cpp_permute(arr, NKV)
        wr.add_tensor(name, np.ascontiguousarray(arr, dtype=np.float32))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    return path


def write_bf16_safetensors(path: Path, weights: dict[str, np.ndarray]) -> None:
    """Hand-written bf16 safetensors (numpy has no bfloat16): keep the top 16 bits of each float32."""
    header: dict[str, dict] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, arr in weights.items():
        raw = (np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    path.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))


def bf16_round(arr: np.ndarray) -> np.ndarray:
    """Truncate to bfloat16 precision, as float32."""
    return ((np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32) >> 16) << 16).view(np.float32)


# ------------------------------------------------------------------------------------------------
# Deliberately naive implementation: scalar loops over positions, heads, pairs and keys
# ------------------------------------------------------------------------------------------------


def naive_logits(w32: dict[str, np.ndarray], tokens: list[int], tied: bool, pos_divisor: float = 1.0) -> np.ndarray:
    w = {k: v.astype(np.float64) for k, v in w32.items()}
    head = w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]

    def norm(x: np.ndarray, g: np.ndarray) -> np.ndarray:
        ms = sum(float(t) * float(t) for t in x) / len(x)
        return np.array([x[j] / math.sqrt(ms + EPS) * g[j] for j in range(len(x))])

    def rope(vec: np.ndarray, pos: int) -> np.ndarray:
        out = vec.copy()
        for i in range(D // 2):
            angle = (pos / pos_divisor) * THETA ** (-2.0 * i / D)
            a, b = vec[i], vec[i + D // 2]
            out[i] = a * math.cos(angle) - b * math.sin(angle)
            out[i + D // 2] = b * math.cos(angle) + a * math.sin(angle)
        return out

    keys: list[list[list[np.ndarray]]] = [[] for _ in range(L)]  # [layer][pos][kv head] -> [D]
    values: list[list[list[np.ndarray]]] = [[] for _ in range(L)]
    all_logits = []
    for pos, tok in enumerate(tokens):
        x = w["model.embed_tokens.weight"][tok].copy()
        for l in range(L):
            p = f"model.layers.{l}."
            xn = norm(x, w[p + "input_layernorm.weight"])
            q = w[p + "self_attn.q_proj.weight"] @ xn + w.get(p + "self_attn.q_proj.bias", 0.0)
            k = w[p + "self_attn.k_proj.weight"] @ xn + w.get(p + "self_attn.k_proj.bias", 0.0)
            v = w[p + "self_attn.v_proj.weight"] @ xn + w.get(p + "self_attn.v_proj.bias", 0.0)
            keys[l].append([rope(k[g * D : (g + 1) * D], pos) for g in range(NKV)])
            values[l].append([v[g * D : (g + 1) * D] for g in range(NKV)])
            attn = np.zeros(NH * D)
            for h in range(NH):
                g = h // (NH // NKV)
                qh = rope(q[h * D : (h + 1) * D], pos)
                scores = [float(qh @ keys[l][j][g]) / math.sqrt(D) for j in range(pos + 1)]
                m = max(scores)
                e = [math.exp(s - m) for s in scores]
                for j in range(pos + 1):
                    attn[h * D : (h + 1) * D] += e[j] / sum(e) * values[l][j][g]
            x = x + w[p + "self_attn.o_proj.weight"] @ attn
            xn = norm(x, w[p + "post_attention_layernorm.weight"])
            gate = w[p + "mlp.gate_proj.weight"] @ xn
            up = w[p + "mlp.up_proj.weight"] @ xn
            act = np.array([gv / (1.0 + math.exp(-gv)) * uv for gv, uv in zip(gate, up)])
            x = x + w[p + "mlp.down_proj.weight"] @ act
        all_logits.append(head @ norm(x, w["model.norm.weight"]))
    return np.stack(all_logits)


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


@pytest.fixture()
def llama_dir(tmp_path: Path) -> Path:
    return write_hf(tmp_path / "llama", make_weights(), hf_config())


def test_incremental_decoding_matches_full_forward(llama_dir: Path) -> None:
    m = ReferenceModel.load(llama_dir)
    full = m.forward(TOKENS)
    assert full.logits.shape == (len(TOKENS), V) and full.logits.dtype == np.float64
    assert len(full.hidden) == L + 1 and all(h.shape == (len(TOKENS), H) for h in full.hidden)

    cache = RefKVCache()
    pieces, hidden_pieces, start = [], [], 0
    for size in (5, 1, 1, 3, 2):
        out = m.forward(TOKENS[start : start + size], cache)
        pieces.append(out.logits)
        hidden_pieces.append(out.hidden)
        start += size
        assert len(cache) == start
    np.testing.assert_allclose(np.concatenate(pieces), full.logits, rtol=0, atol=1e-10)
    for l in range(L + 1):
        np.testing.assert_allclose(np.concatenate([hp[l] for hp in hidden_pieces]), full.hidden[l], rtol=0, atol=1e-10)

    # Greedy through the cache must equal re-running the whole sequence every step.
    gen = m.greedy(TOKENS[:4], 6)
    seq = TOKENS[:4]
    for t in gen:
        assert t == int(np.argmax(m.forward(seq).logits[-1]))
        seq = seq + [t]
    # Chunked teacher forcing equals the argmax of one full pass.
    np.testing.assert_array_equal(m.teacher_forced_argmax(TOKENS, chunk=5), np.argmax(full.logits, axis=-1))


@pytest.mark.parametrize(
    "model_type,bias,rope_scaling,divisor",
    [("llama", False, None, 1.0), ("qwen2", True, None, 1.0), ("llama", False, {"type": "linear", "factor": 4.0}, 4.0)],
)
def test_matches_naive_loop_implementation(tmp_path: Path, model_type: str, bias: bool, rope_scaling, divisor: float) -> None:
    w = make_weights(seed=3, bias=bias)
    folder = write_hf(tmp_path / "m", w, hf_config(model_type=model_type, rope_scaling=rope_scaling))
    toks = TOKENS[:7]
    got = ReferenceModel.load(folder).forward(toks).logits
    want = naive_logits(w, toks, tied=False, pos_divisor=divisor)
    assert np.abs(want).max() > 0.1  # the comparison is not between two near-zero arrays
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # And the test can fail: the naive loop without scaling disagrees with the scaled model.
    if divisor != 1.0:
        assert np.abs(naive_logits(w, toks, tied=False) - got).max() > 1e-3


def test_tied_and_untied_heads(tmp_path: Path) -> None:
    untied_w = make_weights(seed=5)
    untied = ReferenceModel.load(write_hf(tmp_path / "untied", untied_w, hf_config()))
    out = untied.forward(TOKENS)
    normed = (lambda x: x * untied_w["model.norm.weight"] / np.sqrt(np.mean(x * x, -1, keepdims=True) + EPS))(out.hidden[-1])
    np.testing.assert_allclose(out.logits, normed @ untied_w["lm_head.weight"].astype(np.float64).T, atol=1e-10)

    tied_w = {k: v for k, v in untied_w.items() if k != "lm_head.weight"}
    tied = ReferenceModel.load(write_hf(tmp_path / "tied", tied_w, hf_config(tied=True)))
    tied_out = tied.forward(TOKENS)
    np.testing.assert_allclose(tied_out.hidden[-1], out.hidden[-1], atol=1e-12)  # same body
    np.testing.assert_allclose(tied_out.logits, normed @ untied_w["model.embed_tokens.weight"].astype(np.float64).T, atol=1e-10)
    assert np.abs(tied_out.logits - out.logits).max() > 0.1

    # A tied checkpoint that still carries an lm_head copy uses the embedding, like transformers.
    stale = ReferenceModel.load(write_hf(tmp_path / "stale", untied_w, hf_config(tied=True)))
    np.testing.assert_array_equal(stale.forward(TOKENS).logits, tied_out.logits)

    # Untied without lm_head is an error, not a silent tie.
    with pytest.raises(ExportError, match="lm_head"):
        load_weights(write_hf(tmp_path / "broken", tied_w, hf_config(tied=False)))


@pytest.mark.parametrize("tied", [False, True])
def test_gguf_round_trip_llama(tmp_path: Path, tied: bool) -> None:
    w = make_weights(seed=7, tied=tied)
    q = w["model.layers.0.self_attn.q_proj.weight"]
    assert not np.array_equal(llama_cpp_permute(q, NH), q)  # the permutation is not a no-op here

    hf_cfg, hf_w = load_weights(write_hf(tmp_path / "hf", w, hf_config(tied=tied)))
    gg_cfg, gg_w = load_weights(write_gguf(tmp_path / "m.gguf", w))
    assert gg_cfg.tied == tied and gg_cfg.arch == "llama"
    for field in ("n_layers", "hidden", "intermediate", "n_heads", "n_kv_heads", "head_dim", "rope_theta", "vocab_size"):
        assert getattr(gg_cfg, field) == getattr(hf_cfg, field), field
    assert gg_cfg.rms_eps == pytest.approx(EPS, rel=1e-6)  # stored as float32 in GGUF
    assert sorted(gg_w) == sorted(hf_w)
    for name in hf_w:
        np.testing.assert_array_equal(gg_w[name], hf_w[name], err_msg=name)

    hf_logits = ReferenceModel.load(tmp_path / "hf").forward(TOKENS).logits
    gg_logits = ReferenceModel.load(tmp_path / "m.gguf").forward(TOKENS).logits
    np.testing.assert_allclose(gg_logits, hf_logits, rtol=0, atol=1e-6)  # only eps differs (f32 in GGUF)


def test_gguf_qwen2_is_not_unpermuted(tmp_path: Path) -> None:
    w = make_weights(seed=11, bias=True)
    _, gg_w = load_weights(write_gguf(tmp_path / "q.gguf", w, arch="qwen2"))
    for name in ("q_proj.weight", "k_proj.weight", "q_proj.bias", "k_proj.bias", "v_proj.bias"):
        key = f"model.layers.1.self_attn.{name}"
        np.testing.assert_array_equal(gg_w[key], w[key], err_msg=key)
    hf_logits = ReferenceModel.load(write_hf(tmp_path / "hf", w, hf_config(model_type="qwen2"))).forward(TOKENS).logits
    np.testing.assert_allclose(ReferenceModel.load(tmp_path / "q.gguf").forward(TOKENS).logits, hf_logits, atol=1e-6)


def test_gguf_llama_biases_are_unpermuted(tmp_path: Path) -> None:
    w = make_weights(seed=13, bias=True)
    _, gg_w = load_weights(write_gguf(tmp_path / "b.gguf", w, arch="llama"))
    for name in ("q_proj.bias", "k_proj.bias"):
        key = f"model.layers.0.self_attn.{name}"
        np.testing.assert_array_equal(gg_w[key], w[key], err_msg=key)


def test_bf16_safetensors(tmp_path: Path) -> None:
    w = make_weights(seed=17)
    rounded = {k: bf16_round(v) for k, v in w.items()}
    assert any(not np.array_equal(rounded[k], w[k]) for k in w)  # rounding really happened

    bf = tmp_path / "bf16"
    bf.mkdir()
    (bf / "config.json").write_text(json.dumps(hf_config()))
    write_bf16_safetensors(bf / "model.safetensors", w)
    _, got = load_weights(bf)
    for name in w:
        assert got[name].dtype == np.float32
        np.testing.assert_array_equal(got[name], rounded[name], err_msg=name)

    f32 = write_hf(tmp_path / "f32", rounded, hf_config())
    np.testing.assert_array_equal(ReferenceModel.load(bf).forward(TOKENS).logits, ReferenceModel.load(f32).forward(TOKENS).logits)


def test_sharded_safetensors_with_index(tmp_path: Path) -> None:
    w = make_weights(seed=19)
    folder = tmp_path / "sharded"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hf_config()))
    names = sorted(w)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for fname, keys in shards.items():
        save_file({k: w[k] for k in keys}, str(folder / fname))
    weight_map = {k: f for f, keys in shards.items() for k in keys}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    _, got = load_weights(folder)
    assert sorted(got) == names
    for k in names:
        np.testing.assert_array_equal(got[k], w[k])


def test_rope_scaling_frequencies() -> None:
    def cfg(scaling: RopeScaling | None, theta: float = 500000.0, head_dim: int = 128) -> RefConfig:
        return RefConfig("llama", 1, 4096, 1, 32, 8, head_dim, 1e-5, theta, 10, 131072, False, scaling)

    base, s = rope_inv_freq(cfg(None))
    assert s == 1.0 and base[0] == 1.0 and base[-1] == pytest.approx(500000.0 ** (-126 / 128))

    # Llama 3.1 settings: high frequencies untouched, low ones / factor, a smooth band between.
    l3, s = rope_inv_freq(cfg(RopeScaling("llama3", 8.0, 8192, 1.0, 4.0)))
    wavelen = 2 * math.pi / base
    high = wavelen < 8192 / 4.0
    low = wavelen > 8192 / 1.0
    assert s == 1.0 and high.sum() > 0 and low.sum() > 0 and (~high & ~low).sum() > 0
    np.testing.assert_array_equal(l3[high], base[high])
    np.testing.assert_allclose(l3[low], base[low] / 8.0)
    mid = ~high & ~low
    assert np.all(l3[mid] < base[mid]) and np.all(l3[mid] > base[mid] / 8.0)
    # One mid value by hand: smooth = (8192 / wavelen - 1) / 3, blend of f/8 and f.
    i = int(np.flatnonzero(mid)[0])
    sm = (8192 / wavelen[i] - 1.0) / 3.0
    assert l3[i] == pytest.approx((1 - sm) * base[i] / 8.0 + sm * base[i], rel=1e-12)

    # YaRN: extrapolate fast dims, interpolate slow ones, and scale cos/sin by 0.1 ln(f) + 1.
    y, s = rope_inv_freq(cfg(RopeScaling("yarn", 4.0, 4096), theta=10000.0, head_dim=64))
    base64, _ = rope_inv_freq(cfg(None, theta=10000.0, head_dim=64))
    assert s == pytest.approx(0.1 * math.log(4.0) + 1.0)
    lo = math.floor(64 * math.log(4096 / (32 * 2 * math.pi)) / (2 * math.log(10000.0)))
    hi = math.ceil(64 * math.log(4096 / (1 * 2 * math.pi)) / (2 * math.log(10000.0)))
    np.testing.assert_array_equal(y[: lo + 1], base64[: lo + 1])
    np.testing.assert_allclose(y[hi:], base64[hi:] / 4.0)
    _, s = rope_inv_freq(cfg(RopeScaling("yarn", 4.0, 4096, attention_factor=1.5), theta=10000.0, head_dim=64))
    assert s == 1.5

    lin, _ = rope_inv_freq(cfg(RopeScaling("linear", 2.0)))
    np.testing.assert_allclose(lin, base / 2.0)


def test_hf_rope_scaling_is_parsed(tmp_path: Path) -> None:
    w = make_weights()
    sc = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 64}
    cfg, _ = load_weights(write_hf(tmp_path / "l3", w, hf_config(rope_scaling=sc)))
    assert cfg.rope_scaling == RopeScaling("llama3", 8.0, 64, 1.0, 4.0)
    with pytest.raises(ExportError, match="longrope"):
        load_weights(write_hf(tmp_path / "lr", w, hf_config(rope_scaling={"type": "longrope", "factor": 2.0})))


def test_bad_input_raises_export_error(tmp_path: Path, llama_dir: Path) -> None:
    with pytest.raises(ExportError, match="no such file"):
        load_weights(tmp_path / "missing.gguf")
    with pytest.raises(ExportError, match="config.json"):
        load_weights(tmp_path)
    with pytest.raises(ExportError, match="out of range"):
        ReferenceModel.load(llama_dir).forward([V])


def test_cli(tmp_path: Path, llama_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--model", str(llama_dir), "--tokens", ",".join(map(str, TOKENS)), "--greedy", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    m = ReferenceModel.load(llama_dir)
    logits = m.forward(TOKENS).logits
    assert out["tokens"] == TOKENS
    assert out["argmax"] == [int(a) for a in np.argmax(logits, -1)]
    np.testing.assert_allclose(out["max_logit"], logits.max(-1), atol=1e-12)
    assert out["greedy"] == m.greedy(TOKENS, 3)

    tf = tmp_path / "toks.txt"
    tf.write_text("1 2\n3,4\n")
    assert cli_main(["--model", str(llama_dir), "--tokens-file", str(tf)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + 4

    assert cli_main(["--model", str(tmp_path / "nope.gguf"), "--tokens", "1"]) == 2
    err = capsys.readouterr().err
    assert "nope.gguf" in err and len(err.strip().splitlines()) == 1
