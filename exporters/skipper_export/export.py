"""The export pipeline: load -> build graphs -> write bundle (calibration comes later)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .bundle.manifest import FORMAT_NAME, FORMAT_VERSION, dump, graph_entry, model_section, tokenizer_section
from .bundle.writer import BundleWriter
from .errors import ExportError
from .graphs.builder import MS_DOMAIN, STANDARD_OPSET
from .graphs.contract import embed_io, head_io, kv_fill_io, kv_layout, layer_io
from .graphs.attention import SCRATCH_ROWS
from .graphs.rope import rope_cache
from .graphs.embed import build_embed
from .graphs.head import build_head
from .bundle.external import EMBED_TENSORS, embed_table, externalize, share
from .graphs.layer import build_kv_fill, build_layer
from .graphs.precision import WEIGHT_MODES, plan
from .load.blocks import BLOCK
from .load.checkpoint import Checkpoint
from .load.weight import Weight
from .load.source import open_checkpoint

FLAVOURS = ("ort", "standard")
ACCURACY_LEVELS = {"fp32": 0, "int8": 4}  # MatMulNBits accuracy_level


@dataclass(frozen=True)
class ExportOptions:
    source: str
    out: Path
    weights: str = "auto"  # auto | fp32 | fp16 | int8 | int4
    flavour: str = "ort"
    activations: str = "auto"  # auto | float32 | float16 (float16 only for the standard flavour)
    # Compute of the int4/int8-weight matmuls (ort flavour): int8 = activations quantized per block
    # inside MatMulNBits, the default recipe (fast, batch-invariant); fp32 = float compute on the
    # exact weights (the parity tests' bundles). Float weights and the standard flavour ignore it.
    matmul: str = "int8"
    kv_cache: str = "auto"  # auto | float32 | float16 (float16 next to float32 activations: ort flavour)
    force: bool = False
    progress: bool = True


def resolve_weights(ckpt: Checkpoint, requested: str) -> str:
    """``auto`` keeps the source's precision: 4-bit layers -> int4, 8-bit -> int8, floats -> fp32."""
    if requested != "auto":
        if requested not in WEIGHT_MODES:
            raise ExportError("--weights", f"unknown precision '{requested}' (choose auto, {', '.join(WEIGHT_MODES)})")
        return requested
    bits = ckpt.weight("model.layers.0.mlp.up_proj.weight").source_bits
    return {4: "int4", 8: "int8"}.get(bits, "fp32")


def resolve_activations(flavour: str, mode: str, requested: str) -> str:
    if requested == "auto":
        return "float16" if (flavour == "standard" and mode == "fp16") else "float32"
    if requested not in ("float32", "float16"):
        raise ExportError("--activations", f"unknown type '{requested}' (choose auto, float32, float16)")
    if requested == "float16" and flavour == "ort":
        raise ExportError("--activations", "float16 activations need --flavour standard (the ort flavour targets the CPU)")
    return requested


def resolve_kv_cache(flavour: str, mode: str, act: str, matmul: str, requested: str) -> str:
    """``auto``: float16 on the default recipe (ort flavour, int4/int8 weights, int8 matmul
    activations), whose agreement with the float64 reference it leaves unchanged (docs/exporter.md);
    the activations' type elsewhere (the exact recipe keeps a float32 cache)."""
    if requested == "auto":
        fast = flavour == "ort" and mode in ("int4", "int8") and matmul == "int8" and act == "float32"
        return "float16" if fast else act
    if requested not in ("float32", "float16"):
        raise ExportError("--kv-cache", f"unknown type '{requested}' (choose auto, float32, float16)")
    if requested != act and kv_layout(flavour) != "head_major_shared":
        raise ExportError("--kv-cache", f"a {requested} cache with {act} activations needs --flavour ort")
    return requested


def export(opts: ExportOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole export; returns the manifest. Raises ExportError on bad input."""
    if opts.flavour not in FLAVOURS:
        raise ExportError("--flavour", f"unknown flavour '{opts.flavour}' (choose {', '.join(FLAVOURS)})")
    ckpt = open_checkpoint(opts.source)
    mode = resolve_weights(ckpt, opts.weights)
    act = resolve_activations(opts.flavour, mode, opts.activations)
    kv = resolve_kv_cache(opts.flavour, mode, act, opts.matmul, opts.kv_cache)
    c = ckpt.config
    if mode in ("int4", "int8"):
        for key, k in (("hidden_size", c.hidden_size), ("intermediate_size", c.intermediate_size),
                       ("num_heads*head_dim", c.num_heads * c.head_dim)):
            if k % 32:
                raise ExportError(ckpt.source, f"{key} {k} is not a multiple of 32: --weights {mode} needs 32-wide blocks")
    writer = BundleWriter(opts.out, opts.force)
    try:
        manifest = _write(ckpt, mode, act, kv, opts, writer)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return manifest


ROPE_CACHE_FILE = "rope_cache.bin"
EMBED_DATA_FILE = "embed.bin"  # embed.onnx's table as external data (bundle/external.py)


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="graph", disable=not enabled, leave=False)


def _write(ckpt: Checkpoint, mode: str, act: str, kv: str, opts: ExportOptions, w: BundleWriter) -> dict[str, Any]:
    c = ckpt.config
    flavour = opts.flavour
    if opts.matmul not in ACCURACY_LEVELS:
        raise ExportError("--matmul", f"unknown value '{opts.matmul}' (choose int8, fp32)")
    acc = ACCURACY_LEVELS[opts.matmul] if flavour == "ort" else 0
    graphs: dict[str, Any] = {}
    layout = kv_layout(flavour)
    rope_section = None
    if layout == "head_major_shared":
        inv_freq, mscale = c.rope_inv_freq()
        # The layer graphs may write (and rotate) SCRATCH_ROWS rows past a full context.
        table = rope_cache(inv_freq, mscale, c.max_position + SCRATCH_ROWS, kv)  # [2, max_position + scratch, D/2]
        w.write(ROPE_CACHE_FILE, table.tobytes(order="C"))
        rope_section = {"file": ROPE_CACHE_FILE, "dtype": kv, "shape": list(table.shape)}
    with _progress(2 * c.num_layers + 2, opts.progress, f"export {mode}/{flavour}") as bar:
        # ort flavour: 8-bit table bytes biased like MatMulNBits' so a tied head shares them (below)
        bias = 128 if flavour == "ort" else 0
        embed = build_embed(ckpt, mode, act, bias)
        embed_data = externalize(embed, EMBED_DATA_FILE, always=EMBED_TENSORS)
        w.write(EMBED_DATA_FILE, embed_data)  # mapped, not copied
        w.write("embed.onnx", embed.SerializeToString())
        table = embed_table(embed, EMBED_DATA_FILE, c.vocab_size, c.hidden_size, BLOCK)
        graphs["embed"] = graph_entry("embed.onnx", *embed_io(c.hidden_size, act), **({"table": table} if table else {}))
        bar.update()
        layers = []
        width = len(str(c.num_layers - 1))
        for i in range(c.num_layers):
            rel = f"layers/layer_{i:0{width}d}.onnx"
            w.write(rel, build_layer(ckpt, i, mode, flavour, act, acc, kv).SerializeToString())
            layers.append(graph_entry(rel, *layer_io(c.hidden_size, c.num_kv_heads, c.head_dim, act, layout, kv),
                                      index=i))
            bar.update()
        fills = []
        for i in range(c.num_layers):
            rel = f"kv_fill/kv_fill_{i:0{width}d}.onnx"
            w.write(rel, build_kv_fill(ckpt, i, mode, flavour, act, acc, kv).SerializeToString())
            fills.append(graph_entry(rel, *kv_fill_io(c.hidden_size, c.num_kv_heads, c.head_dim, act, layout, kv),
                                     index=i))
            bar.update()
        head = build_head(ckpt, mode, flavour, act, acc)
        # A tied head's weights and scales are embed.bin's bytes: stored once (graphs.head.data)
        tied = share(head, embed_data, EMBED_DATA_FILE)
        w.write("head.onnx", head.SerializeToString())
        graphs["head"] = graph_entry("head.onnx", *head_io(c.hidden_size, c.vocab_size, act),
                                     **({"data": EMBED_DATA_FILE} if tied else {}))
        graphs["layers"] = layers
        graphs["kv_fill"] = fills  # lossy adaptive depth: K/V of deeper layers for exited tokens
        bar.update()
    for name, data in ckpt.tokenizer.files.items():
        w.write(name, data)

    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "producer": f"skipper_export {__version__}",
        "source": _source_section(ckpt),
        "model": model_section(ckpt),
        "weights": _weights_section(ckpt, mode, act, acc),
        "flavour": flavour,
        "opsets": {"ai.onnx": STANDARD_OPSET, **({MS_DOMAIN: 1} if flavour == "ort" else {})},
        # ONNX Runtime fuses blocked DequantizeLinear + MatMul into MatMulNBits with int8 activation
        # quantization by default (session.qdq_matmulnbits_accuracy_level = 4): lossy, so keep it
        # at fp32 compute when a standard bundle runs on ONNX Runtime.
        "onnxruntime": {"session_config": {"session.qdq_matmulnbits_accuracy_level": "0"}},
        "kv_cache": {
            "layout": layout,
            "shape": [1, "max_seq", c.num_kv_heads, c.head_dim] if layout == "sequence_major"
            else [1, c.num_kv_heads, "max_seq", c.head_dim],
            "dtype": kv,
            "keys_rotated": True,
            # Rows after max_seq the runtime allocates for the layer graphs to write (never valid).
            "scratch_rows": SCRATCH_ROWS if layout == "head_major_shared" else 0,
        },
        # GroupQueryAttention's cos/sin tables, little-endian, [2 (cos, sin), positions, D/2].
        "rope_cache": rope_section,
        "tokenizer": tokenizer_section(ckpt),
        "chat_template": ckpt.chat_template,
        "graphs": graphs,
        "files": dict(sorted(w.sha256.items())),
    }
    w.write("manifest.yaml", dump(manifest))
    return manifest


def _source_section(ckpt: Checkpoint) -> dict[str, Any]:
    p = Path(ckpt.source).resolve()
    sec: dict[str, Any] = {"format": ckpt.source_format, "name": p.name}
    if p.is_file():
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        sec["sha256"] = h.hexdigest()
    return sec


def _weights_section(ckpt: Checkpoint, mode: str, act: str, acc: int) -> dict[str, Any]:
    """Per-role precision and whether every stored value equals the source's dequantized value."""
    roles: dict[str, list[Weight]] = {
        "embedding": [ckpt.weight("model.embed_tokens.weight")],
        "layers": [w for n, w in sorted(ckpt.weights.items()) if n.startswith("model.layers.") and len(w.shape) == 2],
        "lm_head": [ckpt.lm_head()],
    }
    plans = {role: [plan(w, mode, "layer" if role == "layers" else "vocab") for w in ws] for role, ws in roles.items()}
    exact = all(ok for ps in plans.values() for _, ok in ps)
    if act == "float16" and mode in ("int4", "int8"):
        exact = False  # scales/offsets are stored in float16
    return {
        "mode": mode,
        "activations": act,
        "precision": {role: "+".join(sorted({p for p, _ in ps})) for role, ps in plans.items()},
        "block_size": 32 if mode in ("int4", "int8") else None,
        "exact_from_source": exact,
        "matmul_accuracy": "int8" if acc == 4 and mode in ("int4", "int8") else "fp32",
    }
