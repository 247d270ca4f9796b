"""Run a bundle with ONNX Runtime exactly as the bundle-format contract says the runtime must.

This is the exporter's own check of what it wrote (parity tests, the demo before the Java runtime):
a preallocated per-layer KV cache [1, max_seq, kv_heads, head_dim] with a valid length, past passed
as a prefix view, new K/V written after it, rollback by setting the length.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import ExportError

_NP = {"float32": np.float32, "float16": np.float16}


def load_manifest(bundle: Path, verify: bool = True) -> dict[str, Any]:
    path = bundle / "manifest.yaml"
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ExportError(str(path), f"cannot read manifest: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "skipper-bundle":
        raise ExportError(str(path), "not a Skipper bundle manifest")
    if manifest.get("format_version") != 1:
        raise ExportError(str(path), f"format_version {manifest.get('format_version')!r} is not supported (this reader knows 1)")
    if verify:
        root = bundle.resolve()
        for rel, digest in manifest["files"].items():
            f = (bundle / rel).resolve()
            if root not in f.parents:
                raise ExportError(str(path), f"file '{rel}' points outside the bundle")
            if hashlib.sha256(f.read_bytes()).hexdigest() != digest:
                raise ExportError(str(bundle / rel), "sha256 does not match the manifest")
    return manifest


class BundleSession:
    """One sequence's state over a bundle: ONNX Runtime sessions plus the KV cache."""

    def __init__(self, bundle: Path, max_seq: int = 2048, threads: int = 2, verify: bool = True) -> None:
        import onnxruntime as ort

        self.bundle = Path(bundle)
        self.manifest = load_manifest(self.bundle, verify)
        m = self.manifest["model"]
        self.act = _NP[self.manifest["weights"]["activations"]]
        self.num_layers = int(m["num_layers"])
        self.max_seq = min(max_seq, int(m["max_position"]))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # 32 sessions each own a pool: spinning workers of idle sessions would steal the cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        for key, value in (self.manifest.get("onnxruntime") or {}).get("session_config", {}).items():
            opts.add_session_config_entry(str(key), str(value))

        def load(rel: str) -> Any:
            return ort.InferenceSession(str(self.bundle / rel), opts, providers=["CPUExecutionProvider"])

        g = self.manifest["graphs"]
        self.embed = load(g["embed"]["file"])
        self.layers = [load(e["file"]) for e in g["layers"]]
        self.head = load(g["head"]["file"])
        kv_shape = (1, self.max_seq, int(m["num_kv_heads"]), int(m["head_dim"]))
        self.keys = [np.zeros(kv_shape, self.act) for _ in self.layers]  # [layers][1, max_seq, kv_heads, head_dim]
        self.values = [np.zeros(kv_shape, self.act) for _ in self.layers]
        self.length = 0  # valid rows in every layer's cache

    def truncate(self, length: int) -> None:
        """Drop cached tokens after ``length``: O(1), nothing is copied."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot truncate a cache of {self.length} tokens to {length}")
        self.length = length

    def forward(self, tokens: list[int], hidden_states: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Append tokens; returns (logits [S, V] float32, per-layer hidden states [S, H] if asked:
        index 0 = embeddings, l+1 = after layer l)."""
        s = len(tokens)
        if s == 0:
            raise ValueError("forward needs at least one token")
        if self.length + s > self.max_seq:
            raise ValueError(f"{self.length + s} tokens exceed the cache of {self.max_seq}")
        p = self.length
        x = self.embed.run(None, {"input_ids": np.asarray([tokens], np.int64)})[0]  # [1, S, H]
        hidden = [x[0].astype(np.float32)] if hidden_states else []
        positions = np.arange(p, p + s, dtype=np.int64)[None]  # [1, S]
        for i, sess in enumerate(self.layers):
            x, k, v = sess.run(None, {"hidden": x, "position_ids": positions,
                                      "past_key": self.keys[i][:, :p], "past_value": self.values[i][:, :p]})
            self.keys[i][:, p:p + s] = k
            self.values[i][:, p:p + s] = v
            if hidden_states:
                hidden.append(x[0].astype(np.float32))
        self.length = p + s
        logits = self.head.run(None, {"hidden": x})[0][0]  # [S, V]
        return logits, hidden

    def layer_hidden_to_logits(self, hidden: np.ndarray) -> np.ndarray:
        """Norm + LM head on any layer's hidden state [S, H] (what early exit uses)."""
        return self.head.run(None, {"hidden": hidden[None].astype(self.act)})[0][0]

    def greedy(self, prompt: list[int], n: int) -> list[int]:
        self.truncate(0)
        logits, _ = self.forward(prompt)
        out = [int(logits[-1].argmax())]
        while len(out) < n:
            logits, _ = self.forward([out[-1]])
            out.append(int(logits[-1].argmax()))
        return out

    def teacher_forced_argmax(self, tokens: list[int], chunk: int = 256) -> np.ndarray:
        """argmax of the next-token logits at every position, computed chunk by chunk through the cache."""
        self.truncate(0)
        out = []
        for i in range(0, len(tokens), chunk):
            logits, _ = self.forward(tokens[i:i + chunk])
            out.append(logits.argmax(-1))
        return np.concatenate(out)
