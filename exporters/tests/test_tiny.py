"""Tests for the tiny random model generator (skipper_export.tiny). All run in seconds."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize

from skipper_export.errors import ExportError
from skipper_export.tiny import K_QUANT_SPEC, STAMP_FILE, TinySpec, make_tiny, random_weights
from skipper_export.tiny import tokenizers_train as tt
from skipper_export.tiny.__main__ import main as cli_main
from skipper_export.tiny.corpus import real_text
from skipper_export.tiny.ggml_quant import pack_q4_k, pack_q6_k, quantize, quantize_q4_k, quantize_q6_k
from skipper_export.tiny.write_gguf import hf_to_gguf_name, permute_rows, unpermute_rows
from skipper_export.tiny.write_hf import CHATML_TEMPLATE, bf16_bits_to_f32, to_bf16_bits

SENTENCE = "<|im_start|>user\nHello, wörld! 12345 ß 🙂 The quick brown fox.<|im_end|>"


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _field(reader: GGUFReader, key: str) -> object:
    return reader.fields[key].contents()


# ---------------------------------------------------------------- corpus


def test_real_text_is_deterministic_english() -> None:
    a, b = real_text(5000), real_text(5000)
    assert a == b and len(a) == 5000
    assert " the " in a


def test_real_text_missing_module_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydoc_data.topics", None)  # makes the import fail
    with pytest.raises(ExportError, match="pydoc_data"):
        real_text(100)


# ---------------------------------------------------------------- tokenizers


def test_sentencepiece_roundtrip_and_ids(tmp_path: Path) -> None:
    import sentencepiece as spm

    path = tt.train_tokenizer("spm", 512, tmp_path / "a" / "tokenizer.model")
    again = tt.train_tokenizer("spm", 512, tmp_path / "b" / "tokenizer.model")
    assert path.read_bytes() == again.read_bytes()  # deterministic bytes
    sp = spm.SentencePieceProcessor(model_file=str(path))
    assert sp.vocab_size() == 512
    assert [sp.id_to_piece(i) for i in range(5)] == ["<unk>", "<s>", "</s>", tt.IM_START, tt.IM_END]
    assert (sp.bos_id(), sp.eos_id(), sp.unk_id(), sp.pad_id()) == (1, 2, 0, -1)
    ids = sp.encode(SENTENCE)
    assert tt.SPM_IM_START in ids and ids[-1] == tt.SPM_IM_END  # ChatML specials are single pieces
    assert any(sp.is_byte(i) for i in ids)  # the emoji uses byte fallback
    assert sp.decode(ids) == SENTENCE


def test_byte_level_bpe_roundtrip_and_ids(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    path = tt.train_tokenizer("bpe", 512, tmp_path / "a" / "tokenizer.json")
    again = tt.train_tokenizer("bpe", 512, tmp_path / "b" / "tokenizer.json")
    assert path.read_bytes() == again.read_bytes()  # deterministic bytes
    tok = Tokenizer.from_file(str(path))
    assert tok.get_vocab_size() == 512
    assert [tok.id_to_token(i) for i in range(3)] == [tt.ENDOFTEXT, tt.IM_START, tt.IM_END]
    enc = tok.encode(SENTENCE)
    assert enc.ids[0] == tt.BPE_IM_START and enc.ids[-1] == tt.BPE_IM_END  # no BOS added
    assert [tok.id_to_token(i) for i in tok.encode("12345").ids] == list("12345")  # single digits
    assert tok.decode(enc.ids, skip_special_tokens=False) == SENTENCE


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize("bias,tie", [(False, True), (True, False)])
def test_random_weights_names_shapes_determinism(bias: bool, tie: bool) -> None:
    spec = TinySpec(layers=3, hidden=96, heads=6, kv_heads=2, intermediate=160, attention_bias=bias, tie_word_embeddings=tie, seed=7)
    w, w2 = random_weights(spec), random_weights(spec)
    assert list(w) == list(w2) and all(np.array_equal(w[k], w2[k]) for k in w)
    assert not np.array_equal(w["model.embed_tokens.weight"], random_weights(TinySpec(hidden=96, heads=6, seed=8))["model.embed_tokens.weight"])
    assert all(a.dtype == np.float32 for a in w.values())
    hd = 96 // 6
    assert w["model.layers.2.self_attn.q_proj.weight"].shape == (6 * hd, 96)
    assert w["model.layers.2.self_attn.k_proj.weight"].shape == (2 * hd, 96)
    assert w["model.layers.0.mlp.down_proj.weight"].shape == (96, 160)
    assert ("model.layers.1.self_attn.k_proj.bias" in w) == bias
    assert "model.layers.1.self_attn.o_proj.bias" not in w
    assert ("lm_head.weight" in w) == (not tie)
    assert abs(float(w["model.norm.weight"].mean()) - 1.0) < 0.1


def test_spec_validation() -> None:
    with pytest.raises(ExportError, match="kv_heads"):
        random_weights(TinySpec(heads=4, kv_heads=3))


# ---------------------------------------------------------------- K-quant encoders


@pytest.mark.parametrize("qtype,enc,tol", [(T.Q4_K, quantize_q4_k, 0.09), (T.Q6_K, quantize_q6_k, 0.025)])
def test_kquant_error_is_small(qtype: T, enc: object, tol: float) -> None:
    x = np.random.default_rng(0).standard_normal((16, 512)).astype(np.float32)
    x[3] *= 100.0  # rows with very different scales
    x[4] = np.abs(x[4])  # all-positive row (Q4_K min offset 0)
    x[5] = 0.0  # all-zero row must not produce NaN
    b = enc(x)  # type: ignore[operator]
    assert b.dtype == np.uint8 and b.shape == (16, 512 // 256 * (144 if qtype == T.Q4_K else 210))
    y = dequantize(b, qtype)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert np.all(y[5] == 0)
    for r in (0, 3, 4):
        assert _rel_err(y[r], x[r]) < tol
    assert _rel_err(y, x) < tol
    assert np.array_equal(quantize(x, qtype), b)


def test_q4_k_layout_exact() -> None:
    rng = np.random.default_rng(1)
    n = 5
    d = rng.uniform(0.01, 1, n).astype(np.float16).astype(np.float32)
    dmin = rng.uniform(0.01, 1, n).astype(np.float16).astype(np.float32)
    sc = rng.integers(0, 64, (n, 8))
    m = rng.integers(0, 64, (n, 8))
    q = rng.integers(0, 16, (n, 256))
    got = dequantize(pack_q4_k(d, dmin, sc, m, q), T.Q4_K)
    want = (d[:, None, None] * sc[:, :, None] * q.reshape(n, 8, 32) - dmin[:, None, None] * m[:, :, None]).reshape(n, 256)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_q6_k_layout_exact() -> None:
    rng = np.random.default_rng(2)
    n = 5
    d = rng.uniform(0.01, 1, n).astype(np.float16).astype(np.float32)
    sc = rng.integers(-128, 128, (n, 16))
    q = rng.integers(0, 64, (n, 256))
    got = dequantize(pack_q6_k(d, sc, q), T.Q6_K)
    want = (d[:, None, None] * sc[:, :, None] * (q.reshape(n, 16, 16) - 32)).reshape(n, 256)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_kquant_representable_values_round_trip_exactly() -> None:
    # Values built from exact fields (power-of-two super scales, every sub-block using the
    # full quant range, largest sub-scale at the format limit) must survive encode+decode.
    rng = np.random.default_rng(3)
    n = 4
    sc = rng.integers(1, 64, (n, 8)); sc[:, 0] = 63
    m = rng.integers(0, 64, (n, 8)); m[:, 1] = 63
    q = rng.integers(0, 16, (n, 8, 32)); q[:, :, 0] = 0; q[:, :, 1] = 15
    x = (2.0**-6 * sc[:, :, None] * q - 2.0**-5 * m[:, :, None]).reshape(n, 256).astype(np.float32)
    assert np.array_equal(dequantize(quantize_q4_k(x), T.Q4_K), x)

    sc6 = rng.integers(-127, 128, (n, 16)); sc6[sc6 == 0] = 1; sc6[:, 2] = -128
    q6 = rng.integers(0, 64, (n, 16, 16)); q6[:, :, 0] = 0
    x6 = (2.0**-8 * sc6[:, :, None] * (q6 - 32)).reshape(n, 256).astype(np.float32)
    assert np.array_equal(dequantize(quantize_q6_k(x6), T.Q6_K), x6)


def test_kquant_rejects_bad_row_length() -> None:
    with pytest.raises(ValueError, match="multiple of 256"):
        quantize_q4_k(np.zeros((2, 128), np.float32))


# ---------------------------------------------------------------- GGUF


def _gguf_weights(reader: GGUFReader) -> dict[str, tuple[T, np.ndarray]]:
    """GGUF name -> (storage type, float32 values in [rows, cols] / [n] order)."""
    return {t.name: (T(t.tensor_type), dequantize(t.data, T(t.tensor_type))) for t in reader.tensors}


# (tensor type, spec overrides, expected matrix type, expected embedding type, relative tolerance)
GGUF_CASES = [
    ("F32", {}, T.F32, T.F32, 1e-7),
    ("F16", {}, T.F16, T.F16, 1e-3),
    ("BF16", {}, T.BF16, T.BF16, 8e-3),
    ("Q8_0", {}, T.Q8_0, T.Q8_0, 0.01),
    ("Q4_0", {}, T.Q4_0, T.Q4_0, 0.12),
    ("Q4_1", {}, T.Q4_1, T.Q4_1, 0.1),
    ("MIXED", {}, T.Q4_1, T.Q8_0, 0.1),
    ("Q4_K", {}, T.Q4_K, T.Q4_K, 0.09),  # make_tiny picks hidden 256 / intermediate 512
    ("Q6_K", dict(K_QUANT_SPEC), T.Q6_K, T.Q6_K, 0.025),
]


@pytest.mark.parametrize("ttype,over,mat_t,emb_t,tol", GGUF_CASES)
def test_gguf_types_metadata_and_permutation(tmp_path: Path, ttype: str, over: dict, mat_t: T, emb_t: T, tol: float) -> None:
    path = make_tiny(tmp_path / "m", "gguf", "spm", ttype, **over)
    stamp = json.loads((path.parent / STAMP_FILE).read_text())
    spec = TinySpec(**stamp["request"]["spec"])
    if ttype in ("Q4_K", "Q6_K"):
        assert (spec.hidden, spec.intermediate) == (256, 512)
    r = GGUFReader(path)
    assert _field(r, "general.architecture") == "llama"
    assert _field(r, "llama.block_count") == spec.layers
    assert _field(r, "llama.embedding_length") == spec.hidden
    assert _field(r, "llama.feed_forward_length") == spec.intermediate
    assert _field(r, "llama.attention.head_count") == spec.heads
    assert _field(r, "llama.attention.head_count_kv") == spec.kv_heads
    assert _field(r, "llama.rope.dimension_count") == spec.head_dim
    assert _field(r, "llama.rope.freq_base") == pytest.approx(10000.0)
    assert _field(r, "llama.attention.layer_norm_rms_epsilon") == pytest.approx(1e-5)
    assert _field(r, "llama.vocab_size") == 512
    assert _field(r, "tokenizer.ggml.model") == "llama"
    assert len(_field(r, "tokenizer.ggml.tokens")) == 512  # type: ignore[arg-type]

    got = _gguf_weights(r)
    ref = random_weights(spec)
    assert set(got) == {hf_to_gguf_name(k) for k in ref}
    assert "output.weight" not in got  # tied by default
    for hf_name, w in ref.items():
        name = hf_to_gguf_name(hf_name)
        qt, arr = got[name]
        if w.ndim == 1:
            assert qt == T.F32 and np.array_equal(arr, w)
            continue
        assert qt == (emb_t if name == "token_embd.weight" else mat_t), name
        if ".attn_q." in name or ".attn_k." in name:
            n_head = spec.heads if ".attn_q." in name else spec.kv_heads
            assert not np.allclose(arr, w, rtol=0.5, atol=0.05)  # rows really are permuted
            arr = unpermute_rows(arr, n_head)
        assert _rel_err(arr, w) < tol, (name, _rel_err(arr, w))


def test_gguf_qwen2_bpe_untied(tmp_path: Path) -> None:
    path = make_tiny(tmp_path / "q", "gguf", "bpe", "Q8_0", attention_bias=True, tie_word_embeddings=False)
    r = GGUFReader(path)
    assert _field(r, "general.architecture") == "qwen2"
    assert _field(r, "qwen2.block_count") == 2
    assert _field(r, "tokenizer.ggml.model") == "gpt2"
    assert _field(r, "tokenizer.ggml.pre") == "smollm"
    tokens = _field(r, "tokenizer.ggml.tokens")
    assert tokens[:3] == [tt.ENDOFTEXT, tt.IM_START, tt.IM_END]  # type: ignore[index]
    assert _field(r, "tokenizer.ggml.token_type")[:4] == [3, 3, 3, 1]  # type: ignore[index]
    merges = _field(r, "tokenizer.ggml.merges")
    assert len(merges) == 512 - 3 - 256 and all(len(m.split(" ")) == 2 for m in merges)  # type: ignore[arg-type, union-attr]
    assert (_field(r, "tokenizer.ggml.bos_token_id"), _field(r, "tokenizer.ggml.eos_token_id")) == (1, 2)
    assert _field(r, "tokenizer.ggml.padding_token_id") == 2
    assert _field(r, "tokenizer.ggml.add_bos_token") is False
    assert _field(r, "tokenizer.chat_template") == CHATML_TEMPLATE
    got = _gguf_weights(r)
    spec = TinySpec(attention_bias=True, tie_word_embeddings=False)
    ref = random_weights(spec)
    assert got["output.weight"][0] == T.Q8_0
    assert got["blk.1.attn_k.bias"][0] == T.F32
    # qwen2: no permutation, biases exact.
    assert np.array_equal(got["blk.1.attn_k.bias"][1], ref["model.layers.1.self_attn.k_proj.bias"])
    assert _rel_err(got["blk.0.attn_q.weight"][1], ref["model.layers.0.self_attn.q_proj.weight"]) < 0.01


def test_gguf_spm_vocab_types(tmp_path: Path) -> None:
    r = GGUFReader(make_tiny(tmp_path / "s", "gguf", "spm", "F16"))
    types = _field(r, "tokenizer.ggml.token_type")
    assert types[:5] == [2, 3, 3, 4, 4]  # type: ignore[index]
    assert types[5:261] == [6] * 256 and set(types[261:]) == {1}  # type: ignore[index, arg-type]
    assert _field(r, "tokenizer.ggml.tokens")[5] == "<0x00>"  # type: ignore[index]
    assert _field(r, "tokenizer.ggml.add_space_prefix") is True
    assert _field(r, "tokenizer.ggml.add_bos_token") is True
    assert (_field(r, "tokenizer.ggml.bos_token_id"), _field(r, "tokenizer.ggml.eos_token_id"), _field(r, "tokenizer.ggml.unknown_token_id")) == (1, 2, 0)
    assert _field(r, "tokenizer.ggml.eot_token_id") == tt.SPM_IM_END
    assert "tokenizer.ggml.padding_token_id" not in r.fields


def test_gguf_k_quant_fallback_to_f16(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        path = make_tiny(tmp_path / "f", "gguf", "spm", "Q6_K", hidden=128, intermediate=256)
    assert "stored as F16" in caplog.text
    types = {t.name: T(t.tensor_type) for t in GGUFReader(path).tensors}
    assert types["blk.0.attn_q.weight"] == T.F16  # row length 128
    assert types["blk.0.ffn_down.weight"] == T.Q6_K  # row length 256


def test_permutation_inverse() -> None:
    w = np.arange(8 * 16 * 3, dtype=np.float32).reshape(8 * 16, 3)
    p = permute_rows(w, 8)
    assert np.array_equal(unpermute_rows(p, 8), w)
    # Head 0: HF rows [0..7 | 8..15] (half split) become interleaved pairs 0,8,1,9,...
    assert list(p[:4, 0] // 3) == [0, 8, 1, 9]


# ---------------------------------------------------------------- HF folders


def _read_safetensors_raw(path: Path) -> dict[str, tuple[str, list[int], bytes]]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    return {k: (v["dtype"], v["shape"], raw[base + v["data_offsets"][0] : base + v["data_offsets"][1]]) for k, v in header.items()}


def _load_hf(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    index = folder / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    out: dict[str, np.ndarray] = {}
    for f in files:
        entries = _read_safetensors_raw(folder / f)
        if any(v[0] == "BF16" for v in entries.values()):
            for k, (dt, shape, data) in entries.items():
                assert dt == "BF16"
                out[k] = bf16_bits_to_f32(np.frombuffer(data, np.uint16)).reshape(shape)
        else:
            out.update({k: v.astype(np.float32) for k, v in load_file(str(folder / f)).items()})
    return out


@pytest.mark.parametrize("kind,shards,dtype,tol", [("spm", 1, "float32", 0.0), ("bpe", 3, "float16", 1e-3), ("spm", 2, "bfloat16", 8e-3)])
def test_hf_folder(tmp_path: Path, kind: str, shards: int, dtype: str, tol: float) -> None:
    from safetensors import safe_open

    folder = make_tiny(tmp_path / "hf", "hf", kind, shards=shards, dtype=dtype, attention_bias=(kind == "bpe"))
    cfg = json.loads((folder / "config.json").read_text())
    spec = TinySpec(attention_bias=(kind == "bpe"))
    assert cfg["model_type"] == spec.arch and cfg["num_key_value_heads"] == 2 and cfg["head_dim"] == 16
    assert cfg["rope_scaling"] is None and cfg["tie_word_embeddings"] is True and cfg["vocab_size"] == 512
    assert cfg["torch_dtype"] == dtype
    if shards > 1:
        index = json.loads((folder / "model.safetensors.index.json").read_text())
        names = {f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)}
        assert set(index["weight_map"].values()) == names
        assert index["metadata"]["total_size"] == sum(len(v[2]) for f in names for v in _read_safetensors_raw(folder / f).values())
    else:
        assert not (folder / "model.safetensors.index.json").exists()
    for f in folder.glob("*.safetensors"):  # the library accepts the files, incl. hand-written BF16
        with safe_open(str(f), framework="numpy") as h:
            assert len(list(h.keys())) > 0
    got, ref = _load_hf(folder), random_weights(spec)
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].shape == ref[k].shape
        np.testing.assert_allclose(got[k], ref[k], rtol=tol, atol=tol * 0.1)
    tok_cfg = json.loads((folder / "tokenizer_config.json").read_text())
    assert tok_cfg["chat_template"] == CHATML_TEMPLATE
    assert (folder / ("tokenizer.model" if kind == "spm" else "tokenizer.json")).exists()
    gen = json.loads((folder / "generation_config.json").read_text())
    assert gen["eos_token_id"] == ([2, 4] if kind == "spm" else 2)


def test_bf16_bits_round_to_nearest_even() -> None:
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.14159], np.float32)
    bits = to_bf16_bits(x)
    assert list(bits[:4]) == [0x3F80, 0x3F80, 0x3F82, 0xC020]  # ties go to even
    assert abs(float(bf16_bits_to_f32(bits)[4]) - 3.14159) < 0.01


def test_chat_template_renders() -> None:
    jinja2 = pytest.importorskip("jinja2")
    text = jinja2.Template(CHATML_TEMPLATE).render(messages=[{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


# ---------------------------------------------------------------- determinism, cache, CLI


@pytest.mark.parametrize("fmt,kind,ttype", [("gguf", "spm", "MIXED"), ("gguf", "bpe", "Q4_K"), ("hf", "bpe", "F32")])
def test_generation_is_byte_identical(tmp_path: Path, fmt: str, kind: str, ttype: str) -> None:
    a = make_tiny(tmp_path / "a", fmt, kind, ttype, shards=2 if fmt == "hf" else 1)
    b = make_tiny(tmp_path / "b", fmt, kind, ttype, shards=2 if fmt == "hf" else 1)
    da, db = (a, b) if fmt == "hf" else (a.parent, b.parent)
    files = sorted(p.name for p in da.iterdir())
    assert files == sorted(p.name for p in db.iterdir())
    for f in files:
        assert (da / f).read_bytes() == (db / f).read_bytes(), f


def test_make_tiny_reuses_and_replaces(tmp_path: Path) -> None:
    p = make_tiny(tmp_path / "c", "gguf", "spm", "Q8_0")
    mtime = p.stat().st_mtime_ns
    assert make_tiny(tmp_path / "c", "gguf", "spm", "Q8_0") == p and p.stat().st_mtime_ns == mtime  # cache hit
    p2 = make_tiny(tmp_path / "c", "gguf", "spm", "Q8_0", seed=1)  # different request: regenerated
    assert p2 == p and p2.read_bytes() != b"" and json.loads((p.parent / STAMP_FILE).read_text())["request"]["spec"]["seed"] == 1
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".")]  # no temp dirs left
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(ExportError, match="refusing"):
        make_tiny(foreign, "hf", "spm")
    with pytest.raises(ExportError, match="unknown spec"):
        make_tiny(tmp_path / "d", "hf", "spm", hiden=3)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli_main(["--help"])
    assert e.value.code == 0 and "--tensor-type" in capsys.readouterr().out
    out = tmp_path / "cli"
    assert cli_main(["--out", str(out), "--format", "gguf", "--tokenizer", "bpe", "--tensor-type", "q4_0", "--layers", "3", "--seed", "5"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "model.gguf")
    r = GGUFReader(out / "model.gguf")
    assert _field(r, "llama.block_count") == 3
    assert T(r.tensors[1].tensor_type) == T.F32 and T(r.tensors[0].tensor_type) == T.Q4_0
    assert cli_main(["--out", str(tmp_path / "bad"), "--format", "gguf", "--tokenizer", "bpe", "--tensor-type", "Q3_K"]) == 2
    assert "tensor type" in capsys.readouterr().err
