"""Write a tiny model as a Hugging Face folder (config, safetensors, tokenizer files).

The folder mirrors what ``transformers`` saves for Llama / Qwen2 so the HF loader is
exercised on the same file shapes as real checkpoints: optional sharding with an index,
float32 / float16 / bfloat16 storage, and either ``tokenizer.model`` or ``tokenizer.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import ExportError
from . import tokenizers_train as tt
from .weights import TinySpec

TokenizerKind = Literal["spm", "bpe"]
HfDtype = Literal["float32", "float16", "bfloat16"]

# ChatML template (jinja), the format used by SmolLM2 / Qwen instruct models.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def special_tokens(kind: TokenizerKind) -> dict[str, Any]:
    """Special-token ids and strings of a tiny tokenizer kind (fixed by the trainers).

    spm: Llama style, BOS prepended; ChatML turns end with <|im_end|> (id 4), so generation
    stops on either </s> or <|im_end|>. bpe: SmolLM2-Instruct style, no BOS prepended by
    the tokenizer, bos=<|im_start|>, eos=pad=<|im_end|>, unk=<|endoftext|>.
    """
    if kind == "spm":
        return {
            "bos": ("<s>", tt.SPM_BOS), "eos": ("</s>", tt.SPM_EOS), "unk": ("<unk>", tt.SPM_UNK),
            "pad": None, "add_bos": True, "stop_ids": [tt.SPM_EOS, tt.SPM_IM_END],
            "im_start": tt.SPM_IM_START, "im_end": tt.SPM_IM_END,
        }
    if kind == "bpe":
        return {
            "bos": (tt.IM_START, tt.BPE_IM_START), "eos": (tt.IM_END, tt.BPE_IM_END),
            "unk": (tt.ENDOFTEXT, tt.BPE_ENDOFTEXT), "pad": (tt.IM_END, tt.BPE_IM_END),
            "add_bos": False, "stop_ids": [tt.BPE_IM_END],
            "im_start": tt.BPE_IM_START, "im_end": tt.BPE_IM_END,
        }
    raise ExportError("tiny tokenizer", f"unknown tokenizer kind {kind!r} (expected 'spm' or 'bpe')")


def hf_config(spec: TinySpec, kind: TokenizerKind, dtype: HfDtype) -> dict[str, Any]:
    st = special_tokens(kind)
    cfg: dict[str, Any] = {
        "architectures": ["Qwen2ForCausalLM" if spec.attention_bias else "LlamaForCausalLM"],
        "model_type": spec.arch,
        "vocab_size": spec.vocab_size,
        "hidden_size": spec.hidden,
        "intermediate_size": spec.intermediate,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "head_dim": spec.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": spec.max_position,
        "rms_norm_eps": spec.rms_eps,
        "rope_theta": spec.rope_theta,
        "rope_scaling": None,
        "tie_word_embeddings": spec.tie_word_embeddings,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": True,
        "bos_token_id": st["bos"][1],
        "eos_token_id": st["eos"][1],
        "torch_dtype": dtype,
    }
    if spec.attention_bias:  # Qwen2 has q/k/v biases implicitly and a sliding-window switch
        cfg.update(use_sliding_window=False, sliding_window=spec.max_position, max_window_layers=spec.layers)
    else:
        cfg.update(attention_bias=False, mlp_bias=False, pretraining_tp=1)
    if st["pad"] is not None:
        cfg["pad_token_id"] = st["pad"][1]
    return cfg


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round-to-nearest-even like torch.to(bfloat16)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32, exact."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def write_safetensors_raw(path: Path, tensors: dict[str, tuple[str, tuple[int, ...], bytes]]) -> None:
    """Write a safetensors file by hand: 8-byte LE header length, JSON header, raw data.

    Used for BF16 because ``safetensors.numpy`` has no bfloat16 numpy dtype. Tensors are
    laid out in name order; the header is space-padded to 8 bytes so data is aligned
    (as the reference implementation does).
    """
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name in sorted(tensors):
            f.write(tensors[name][2])


def _shard_names(weights: dict[str, np.ndarray], shards: int) -> list[list[str]]:
    """Split tensor names, in checkpoint order, into ``shards`` contiguous non-empty groups of similar byte size."""
    names = list(weights)
    n = len(names)
    if not 1 <= shards <= n:
        raise ExportError("tiny hf", f"shards={shards} must be between 1 and the tensor count {n}")
    total = sum(weights[k].nbytes for k in names)
    groups: list[list[str]] = [[] for _ in range(shards)]
    before, prev = 0, 0
    for i, name in enumerate(names):
        want = before * shards // total  # shard by bytes written before this tensor
        # Advance at most one shard per tensor (no empty shard in the middle) and early
        # enough that every remaining shard still gets a tensor.
        g = min(max(want, prev, shards - (n - i)), prev + 1) if i else 0
        groups[g].append(name)
        before += weights[name].nbytes
        prev = g
    return groups


def _write_weights(out_dir: Path, weights: dict[str, np.ndarray], shards: int, dtype: HfDtype) -> None:
    from safetensors.numpy import save_file

    groups = _shard_names(weights, shards)
    files = ["model.safetensors"] if shards == 1 else [f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)]
    weight_map: dict[str, str] = {}
    total = 0
    for fname, names in zip(files, groups):
        if dtype == "bfloat16":
            raw = {n: ("BF16", weights[n].shape, to_bf16_bits(weights[n]).tobytes()) for n in names}
            write_safetensors_raw(out_dir / fname, raw)
            total += sum(len(r[2]) for r in raw.values())
        else:
            np_dtype = np.float16 if dtype == "float16" else np.float32
            arrays = {n: np.ascontiguousarray(weights[n], dtype=np_dtype) for n in names}
            save_file(arrays, str(out_dir / fname), metadata={"format": "pt"})
            total += sum(a.nbytes for a in arrays.values())
        weight_map.update({n: fname for n in names})
    if shards > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        _write_json(out_dir / "model.safetensors.index.json", index)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def tokenizer_config(kind: TokenizerKind) -> dict[str, Any]:
    st = special_tokens(kind)
    cfg: dict[str, Any] = {
        "tokenizer_class": "LlamaTokenizer" if kind == "spm" else "GPT2Tokenizer",
        "bos_token": st["bos"][0],
        "eos_token": st["eos"][0],
        "unk_token": st["unk"][0],
        "pad_token": st["pad"][0] if st["pad"] is not None else None,
        "add_bos_token": st["add_bos"],
        "add_eos_token": False,
        "chat_template": CHATML_TEMPLATE,
        "model_max_length": 512,
        "clean_up_tokenization_spaces": False,
        "additional_special_tokens": [tt.IM_START, tt.IM_END],
    }
    if kind == "spm":
        cfg["legacy"] = False
        cfg["add_prefix_space"] = None
    return cfg


def write_hf_folder(
    out_dir: str | os.PathLike[str],
    spec: TinySpec,
    weights: dict[str, np.ndarray],
    tokenizer_kind: TokenizerKind,
    shards: int = 1,
    dtype: HfDtype = "float32",
    tokenizer_file: str | os.PathLike[str] | None = None,
) -> Path:
    """Write config.json, generation_config.json, safetensors weights and tokenizer files.

    ``tokenizer_file`` is a trained ``tokenizer.model`` (spm) or ``tokenizer.json`` (bpe) to
    copy in; when None one is trained here (deterministic, so it equals the one a GGUF of the
    same spec embeds). Its vocab size must equal ``spec.vocab_size``.
    """
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ExportError("tiny hf", f"dtype {dtype!r} must be float32, float16 or bfloat16")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    st = special_tokens(tokenizer_kind)
    _write_json(out / "config.json", hf_config(spec, tokenizer_kind, dtype))
    gen: dict[str, Any] = {"bos_token_id": st["bos"][1], "eos_token_id": st["stop_ids"] if len(st["stop_ids"]) > 1 else st["stop_ids"][0]}
    if st["pad"] is not None:
        gen["pad_token_id"] = st["pad"][1]
    _write_json(out / "generation_config.json", gen)
    _write_weights(out, weights, shards, dtype)
    dest = out / tt.tokenizer_filename(tokenizer_kind)
    if tokenizer_file is None:
        tt.train_tokenizer(tokenizer_kind, spec.vocab_size, dest)
    elif Path(tokenizer_file).resolve() != dest.resolve():
        shutil.copyfile(tokenizer_file, dest)
    tt.check_vocab_size(tokenizer_kind, dest, spec.vocab_size)
    tok_cfg = tokenizer_config(tokenizer_kind)
    _write_json(out / "tokenizer_config.json", tok_cfg)
    special_map = {k: tok_cfg[f"{k}_token"] for k in ("bos", "eos", "unk", "pad") if tok_cfg[f"{k}_token"] is not None}
    special_map["additional_special_tokens"] = [tt.IM_START, tt.IM_END]
    _write_json(out / "special_tokens_map.json", special_map)
    return out
