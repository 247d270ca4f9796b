"""Tests for the Hugging Face folder loader (skipper_export.load.hf_source), on tiny generated models."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from skipper_export.errors import ExportError
from skipper_export.load.hf_source import load_hf_folder
from skipper_export.reference.checkpoint_reader import load_weights
from skipper_export.tiny import make_tiny
from skipper_export.tiny.write_hf import CHATML_TEMPLATE

SOURCE_TYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make_tiny into a module-wide folder, once per argument set (read-only use)."""
    base = tmp_path_factory.mktemp("hf_tiny")

    def get(kind: str = "spm", shards: int = 1, dtype: str = "float32", **over: Any) -> Path:
        key = f"{kind}-{shards}-{dtype}-" + "-".join(f"{k}={v}" for k, v in sorted(over.items()))
        return make_tiny(base / key, "hf", kind, shards=shards, dtype=dtype, **over)

    return get


@pytest.fixture()
def tiny_copy(tiny_cache: Callable[..., Path], tmp_path: Path) -> Callable[..., Path]:
    """A private, editable copy of a tiny folder, named 'model' under tmp_path."""

    def get(kind: str = "spm", shards: int = 1, dtype: str = "float32", **over: Any) -> Path:
        dst = tmp_path / "model"
        shutil.copytree(tiny_cache(kind, shards, dtype, **over), dst)
        return dst

    return get


def _edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    obj = json.loads(path.read_text(encoding="utf-8"))
    edit(obj)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _read_st(path: Path) -> tuple[dict[str, Any], bytes]:
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def _write_st(path: Path, header: dict[str, Any], data: bytes) -> None:
    h = json.dumps(header).encode("utf-8")
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)


def _add_tensor(path: Path, name: str, arr: np.ndarray, dtype: str = "F32") -> None:
    header, data = _read_st(path)
    raw = np.ascontiguousarray(arr).tobytes()
    header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [len(data), len(data) + len(raw)]}
    _write_st(path, header, data + raw)


# --------------------------------------------------------------------------- good folders


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("kind", ["spm", "bpe"])
def test_weights_match_independent_reader(tiny_cache: Callable[..., Path], kind: str, shards: int, dtype: str) -> None:
    # bpe folders are Qwen2 (q/k/v biases) and untied; spm folders are Llama and tied.
    bpe = kind == "bpe"
    folder = tiny_cache(kind, shards, dtype, attention_bias=bpe, tie_word_embeddings=not bpe)
    ckpt = load_hf_folder(folder)
    _, ref = load_weights(folder)

    expected_names = set(ref) if not ckpt.config.tie_word_embeddings else set(ref) - {"lm_head.weight"}
    assert set(ckpt.weights) == expected_names
    assert ("lm_head.weight" in ckpt.weights) is bpe
    for name, w in ckpt.weights.items():
        assert w.name == name
        assert w.source_type == SOURCE_TYPES[dtype]
        assert w.row_perm is None
        assert w.raw.dtype == (np.float16 if dtype == "float16" else np.float32)
        assert tuple(w.shape) == ref[name].shape == w.raw.shape
        dense = w.dense()
        assert dense.dtype == np.float32
        np.testing.assert_array_equal(dense, ref[name], err_msg=name)
    np.testing.assert_array_equal(ckpt.lm_head().dense(), ref["lm_head.weight"])
    if bpe:
        assert "model.layers.1.self_attn.k_proj.bias" in ckpt.weights
    if dtype != "float32":  # the 16-bit values really are 16-bit: re-rounding changes nothing
        emb = ckpt.weights["model.embed_tokens.weight"].dense()
        assert np.abs(emb).max() > 0
        if dtype == "float16":
            np.testing.assert_array_equal(emb.astype(np.float16).astype(np.float32), emb)
        else:
            assert not (emb.view(np.uint32) & 0xFFFF).any()


@pytest.mark.parametrize("kind", ["spm", "bpe"])
def test_config_fields(tiny_cache: Callable[..., Path], kind: str) -> None:
    bpe = kind == "bpe"
    folder = tiny_cache(kind, 1, "float32", attention_bias=bpe, tie_word_embeddings=not bpe)
    ckpt = load_hf_folder(folder)
    spec = json.loads((folder / "tiny.json").read_text())["spec"]
    c = ckpt.config
    assert c.architecture == ("qwen2" if bpe else "llama")
    assert (c.num_layers, c.hidden_size, c.intermediate_size) == (spec["layers"], spec["hidden"], spec["intermediate"])
    assert (c.num_heads, c.num_kv_heads, c.head_dim) == (spec["heads"], spec["kv_heads"], spec["head_dim"])
    assert c.vocab_size == spec["vocab_size"]
    assert c.rms_norm_eps == spec["rms_eps"] and c.rope_theta == spec["rope_theta"]
    assert c.max_position == spec["max_position"]
    assert c.tie_word_embeddings is (not bpe)
    assert c.attention_bias is bpe
    assert c.rope_scaling.kind == "none"
    assert ckpt.source == str(folder) and ckpt.source_format == "hf"
    assert ckpt.name == folder.name
    assert ckpt.chat_template == CHATML_TEMPLATE


def test_tokenizer_spm_ids(tiny_cache: Callable[..., Path]) -> None:
    tok = load_hf_folder(tiny_cache("spm")).tokenizer
    assert tok.kind == "spm" and set(tok.files) == {"tokenizer.model"}
    assert (tok.unk_id, tok.bos_id, tok.pad_id) == (0, 1, None)
    assert tok.eos_ids == (2, 4)  # </s> plus generation_config's <|im_end|>
    assert tok.add_bos is True


def test_tokenizer_bpe_ids(tiny_cache: Callable[..., Path]) -> None:
    tok = load_hf_folder(tiny_cache("bpe")).tokenizer
    assert tok.kind == "bpe" and set(tok.files) == {"tokenizer.json"}
    assert tok.special_tokens["<|endoftext|>"] == 0
    assert tok.special_tokens["<|im_start|>"] == 1
    assert tok.special_tokens["<|im_end|>"] == 2
    assert (tok.unk_id, tok.bos_id, tok.pad_id, tok.eos_ids) == (0, 1, 2, (2,))
    assert tok.add_bos is False


def test_shards_without_index_are_read_in_sorted_order(tiny_copy: Callable[..., Path], tiny_cache: Callable[..., Path]) -> None:
    folder = tiny_copy("spm", 3)
    (folder / "model.safetensors.index.json").unlink()
    ckpt = load_hf_folder(folder)
    _, ref = load_weights(tiny_cache("spm", 3))
    assert set(ckpt.weights) == set(ref) - {"lm_head.weight"}
    for name, w in ckpt.weights.items():
        np.testing.assert_array_equal(w.dense(), ref[name])


def test_mistral_is_llama_and_rope_parameters(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()

    def edit(c: dict[str, Any]) -> None:
        c.update(model_type="mistral", architectures=["MistralForCausalLM"], sliding_window=None)
        del c["rope_theta"], c["rope_scaling"], c["attention_bias"]
        c["rope_parameters"] = {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 128}

    _edit_json(folder / "config.json", edit)
    c = load_hf_folder(folder).config
    assert c.architecture == "llama" and c.rope_theta == 500000.0 and c.attention_bias is False
    assert (c.rope_scaling.kind, c.rope_scaling.factor, c.rope_scaling.original_max_position) == ("llama3", 8.0, 128)
    assert (c.rope_scaling.low_freq_factor, c.rope_scaling.high_freq_factor) == (1.0, 4.0)


@pytest.mark.parametrize("scaling, expect", [
    ({"type": "linear", "factor": 2.0}, ("linear", 2.0, 0)),
    ({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128}, ("yarn", 4.0, 128)),
    ({"rope_type": "yarn", "factor": 4.0}, ("yarn", 4.0, 512)),  # original defaults to max_position_embeddings
    ({"rope_type": "default"}, ("none", 1.0, 0)),
])
def test_rope_scaling_kinds(tiny_copy: Callable[..., Path], scaling: dict[str, Any], expect: tuple[str, float, int]) -> None:
    folder = tiny_copy()
    _edit_json(folder / "config.json", lambda c: c.update(rope_scaling=scaling))
    rs = load_hf_folder(folder).config.rope_scaling
    assert (rs.kind, rs.factor, rs.original_max_position) == expect


def test_tie_flags(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy("spm", 1, "float32", tie_word_embeddings=False)
    _edit_json(folder / "config.json", lambda c: c.update(tie_word_embeddings=True))
    ckpt = load_hf_folder(folder)
    assert "lm_head.weight" not in ckpt.weights  # a stale head copy is dropped when tied
    assert ckpt.lm_head() is ckpt.weights["model.embed_tokens.weight"]


def test_inv_freq_ignored_and_chat_template_sources(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    _add_tensor(folder / "model.safetensors", "model.layers.0.self_attn.rotary_emb.inv_freq", np.ones(8, np.float32))
    _edit_json(folder / "tokenizer_config.json",
               lambda c: c.update(chat_template=[{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]))
    ckpt = load_hf_folder(folder)
    assert ckpt.chat_template == "D"
    assert not any("inv_freq" in n for n in ckpt.weights)

    _edit_json(folder / "tokenizer_config.json", lambda c: c.pop("chat_template"))
    assert load_hf_folder(folder).chat_template is None
    (folder / "chat_template.jinja").write_text("{{ messages }}", encoding="utf-8")
    assert load_hf_folder(folder).chat_template == "{{ messages }}"


# --------------------------------------------------------------------------- bad folders


def _raises(folder: Path, *patterns: str) -> ExportError:
    with pytest.raises(ExportError) as ei:
        load_hf_folder(folder)
    msg = str(ei.value)
    assert "\n" not in msg
    for p in patterns:
        assert p in msg, f"{p!r} not in {msg!r}"
    return ei.value


def test_missing_config(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    (folder / "config.json").unlink()
    _raises(folder, str(folder / "config.json"), "missing config.json")


def test_not_a_folder(tmp_path: Path) -> None:
    _raises(tmp_path / "nope", "not a directory")


def test_bad_json(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    (folder / "config.json").write_text('{"model_type": "llama",', encoding="utf-8")
    _raises(folder, "config.json", "not valid JSON")


def test_unsupported_model_type(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    _edit_json(folder / "config.json", lambda c: c.update(model_type="gemma"))
    _raises(folder, "config.json", "unsupported model_type 'gemma'", "llama, mistral, qwen2")


def test_missing_key(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    _edit_json(folder / "config.json", lambda c: c.pop("num_hidden_layers"))
    _raises(folder, "config.json", "num_hidden_layers")


def test_wrong_key_type(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    _edit_json(folder / "config.json", lambda c: c.update(hidden_size="64"))
    _raises(folder, "config.json", "'hidden_size' must be an integer")


def test_mistral_sliding_window_rejected(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    _edit_json(folder / "config.json", lambda c: c.update(model_type="mistral", sliding_window=128))
    _raises(folder, "config.json", "sliding_window 128", "max_position_embeddings 512")


@pytest.mark.parametrize("kind", ["dynamic", "longrope"])
def test_unsupported_rope_scaling(tiny_copy: Callable[..., Path], kind: str) -> None:
    folder = tiny_copy()
    _edit_json(folder / "config.json", lambda c: c.update(rope_scaling={"type": kind, "factor": 2.0}))
    _raises(folder, "config.json", f"'{kind}'", "rope_scaling")


def test_truncated_safetensors(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    st = folder / "model.safetensors"
    blob = st.read_bytes()
    st.write_bytes(blob[:len(blob) - 100])
    _raises(folder, str(st), "outside the data area")


def test_header_length_larger_than_file(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    st = folder / "model.safetensors"
    blob = st.read_bytes()
    st.write_bytes(struct.pack("<Q", len(blob) * 2) + blob[8:])
    _raises(folder, str(st), "header length")


def test_data_offsets_out_of_range(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    st = folder / "model.safetensors"
    header, data = _read_st(st)
    header["model.norm.weight"]["data_offsets"] = [len(data) - 8, len(data) + 248]
    _write_st(st, header, data)
    _raises(folder, str(st), "model.norm.weight", "data_offsets")


def test_size_mismatch(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    st = folder / "model.safetensors"
    header, data = _read_st(st)
    header["model.norm.weight"]["shape"] = [65]
    _write_st(st, header, data)
    _raises(folder, str(st), "model.norm.weight", "expected 260")


def test_unsupported_dtype(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    st = folder / "model.safetensors"
    header, data = _read_st(st)
    header["model.norm.weight"].update(dtype="F8_E4M3", shape=[256])  # same 256 bytes
    _write_st(st, header, data)
    _raises(folder, str(st), "model.norm.weight", "F8_E4M3")


def test_index_shard_outside_folder(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy("spm", 3)
    shutil.copyfile(folder / "model-00001-of-00003.safetensors", folder.parent / "x.safetensors")

    def edit(idx: dict[str, Any]) -> None:
        first = next(iter(idx["weight_map"]))
        idx["weight_map"][first] = "../x.safetensors"

    _edit_json(folder / "model.safetensors.index.json", edit)
    _raises(folder, "model.safetensors.index.json", "'../x.safetensors'")


def test_index_shard_symlink_outside_folder(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy("spm", 3)
    shard = folder / "model-00002-of-00003.safetensors"
    outside = folder.parent / "outside.safetensors"
    shutil.move(shard, outside)
    shard.symlink_to(outside)
    _raises(folder, "model.safetensors.index.json", "outside the model folder")


def test_index_shard_missing(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy("spm", 3)
    (folder / "model-00003-of-00003.safetensors").unlink()
    _raises(folder, "model-00003-of-00003.safetensors", "does not exist")


def test_duplicate_tensor_across_shards(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy("spm", 3)
    first, _ = _read_st(folder / "model-00001-of-00003.safetensors")
    st3 = folder / "model-00003-of-00003.safetensors"
    header, data = _read_st(st3)
    victim = next(n for n in header if n != "__metadata__")
    dup = next(n for n in first if n != "__metadata__")
    header[dup] = header.pop(victim)  # shard 3 now also holds a tensor named like one of shard 1
    _write_st(st3, header, data)
    _raises(folder, str(st3), f"'{dup}'", "duplicate")


def test_qwen3_qk_norm_rejected(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    _add_tensor(folder / "model.safetensors", "model.layers.1.self_attn.q_norm.weight", np.ones(16, np.float32))
    _raises(folder, "model.layers.1.self_attn.q_norm.weight", "not supported")


def test_untied_without_lm_head(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()  # tied by default: the files have no lm_head
    _edit_json(folder / "config.json", lambda c: c.update(tie_word_embeddings=False))
    _raises(folder, "tie_word_embeddings is false", "lm_head.weight")


def test_wrong_shape_from_config(tiny_copy: Callable[..., Path]) -> None:
    folder = tiny_copy()
    _edit_json(folder / "config.json", lambda c: c.update(intermediate_size=96))
    _raises(folder, str(folder), "model.layers.0.mlp.gate_proj.weight", "[128, 64]", "[96, 64]")
