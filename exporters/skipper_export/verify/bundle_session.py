"""Run a bundle with ONNX Runtime exactly as the bundle-format contract says the runtime must.

This is the exporter's own check of what it wrote (parity tests, the demo before the Java runtime):
a preallocated per-layer KV cache with a valid length and rollback by setting the length. Layouts:
  sequence_major     [1, max_seq, kv_heads, D]; past passed as a prefix view, new K/V stored after it;
  head_major_shared  [1, kv_heads, max_seq, D]; the same buffer bound as past_key and present_key
                     (I/O binding), GroupQueryAttention writes the new rows in place.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import ExportError
from ..machine import available_cpus

_NP = {"float32": np.float32, "float16": np.float16}


def load_manifest(bundle: Path, verify: bool = True) -> dict[str, Any]:
    path = bundle / "manifest.yaml"
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ExportError(str(path), "not valid UTF-8: not a Skipper bundle manifest") from None
    except (OSError, yaml.YAMLError) as e:
        raise ExportError(str(path), f"cannot read manifest: {' '.join(str(e).split())[:300]}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "skipper-bundle":
        raise ExportError(str(path), "not a Skipper bundle manifest")
    if manifest.get("format_version") != 1:
        raise ExportError(str(path), f"format_version {manifest.get('format_version')!r} is not supported (this reader knows 1)")
    if not isinstance(manifest.get("files"), dict):
        raise ExportError(str(path), "has no files: map")
    if verify:
        root = bundle.resolve()
        for rel, digest in manifest["files"].items():
            f = (bundle / str(rel)).resolve()
            if root not in f.parents:
                raise ExportError(str(path), f"file '{rel}' points outside the bundle")
            try:
                data = f.read_bytes()
            except OSError as e:
                raise ExportError(str(bundle / str(rel)), f"cannot read: {e.strerror or e}") from None
            if hashlib.sha256(data).hexdigest() != digest:
                raise ExportError(str(bundle / str(rel)), "sha256 does not match the manifest")
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
        opts.intra_op_num_threads = max(1, min(threads, available_cpus()))  # hundreds crash ORT natively
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
        self.kv_fill = [load(e["file"]) for e in g.get("kv_fill") or []]  # older bundles have none
        kvh, d = int(m["num_kv_heads"]), int(m["head_dim"])
        self.layout = self.manifest["kv_cache"]["layout"]
        self.shared = self.layout == "head_major_shared"
        rows = self.max_seq + int(self.manifest["kv_cache"].get("scratch_rows", 0))  # valid rows + scratch rows
        kv_shape = (1, kvh, rows, d) if self.shared else (1, rows, kvh, d)
        kv_dtype = _NP[self.manifest["kv_cache"]["dtype"]]
        self.keys = [np.zeros(kv_shape, kv_dtype) for _ in self.layers]  # [layers] + kv_shape
        self.values = [np.zeros(kv_shape, kv_dtype) for _ in self.layers]
        self.length = 0  # valid rows in every layer's cache
        if self.shared:
            rc = self.manifest["rope_cache"]
            shape = tuple(int(x) for x in rc["shape"])
            table = np.fromfile(self.bundle / rc["file"], dtype=_NP[rc["dtype"]]).reshape(shape)  # [2, P, D/2]
            self._cos = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(table[0]))
            self._sin = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(table[1]))
            self._kv = [(ort.OrtValue.ortvalue_from_numpy(k), ort.OrtValue.ortvalue_from_numpy(v))
                        for k, v in zip(self.keys, self.values)]  # views over self.keys/values: in place

    def kv_rows(self, layer: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The first n cached rows of a layer as (keys, values), each [n, kv_heads, D]."""
        k, v = self.keys[layer][0], self.values[layer][0]
        if self.shared:
            return k[:, :n].transpose(1, 0, 2), v[:, :n].transpose(1, 0, 2)
        return k[:n], v[:n]

    def _run_layer(self, i: int, x: np.ndarray, p: int) -> np.ndarray:
        """Layer i over x [1, S, H] at positions p..p+S-1; appends its K/V to the cache."""
        s = x.shape[1]
        sess = self.layers[i]
        if not self.shared:
            positions = np.arange(p, p + s, dtype=np.int64)[None]  # [1, S]
            x, k, v = sess.run(None, {"hidden": x, "position_ids": positions,
                                      "past_key": self.keys[i][:, :p], "past_value": self.values[i][:, :p]})
            self.keys[i][:, p:p + s] = k
            self.values[i][:, p:p + s] = v
            return x
        io = self._bind_shared(sess, i, x, p)
        io.bind_output("hidden_out")  # bound after the two present buffers: the last output
        sess.run_with_iobinding(io)
        return io.copy_outputs_to_cpu()[-1]

    def _bind_shared(self, sess, i: int, x: np.ndarray, p: int):
        """head_major_shared: the layer's inputs, and its cache buffers as past and present (in place)."""
        s = x.shape[1]
        kv, vv = self._kv[i]
        io = sess.io_binding()
        io.bind_cpu_input("hidden", np.ascontiguousarray(x))
        io.bind_ortvalue_input("past_key", kv)
        io.bind_ortvalue_input("past_value", vv)
        io.bind_cpu_input("seqlens_k", np.array([p + s - 1], np.int32))
        io.bind_cpu_input("total_sequence_length", np.array(p + s, np.int32))
        io.bind_ortvalue_input("cos_cache", self._cos)
        io.bind_ortvalue_input("sin_cache", self._sin)
        io.bind_ortvalue_output("present_key", kv)
        io.bind_ortvalue_output("present_value", vv)
        return io

    def fill_kv(self, i: int, x: np.ndarray, p: int) -> None:
        """Layer i's K/V only for x [1, S, H] at positions p..p+S-1 (what lossy adaptive depth
        writes for tokens that exited before layer i); the cache length is not changed here."""
        s = x.shape[1]
        sess = self.kv_fill[i]
        if not self.shared:
            k, v = sess.run(None, {"hidden": x, "position_ids": np.arange(p, p + s, dtype=np.int64)[None]})
            self.keys[i][:, p:p + s] = k
            self.values[i][:, p:p + s] = v
            return
        sess.run_with_iobinding(self._bind_shared(sess, i, x, p))

    def truncate(self, length: int) -> None:
        """Drop cached tokens after ``length``: O(1), nothing is copied."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot truncate a cache of {self.length} tokens to {length}")
        self.length = length

    def forward(self, tokens: list[int], hidden_states: bool = False,
                skip: frozenset[int] = frozenset()) -> tuple[np.ndarray, list[np.ndarray]]:
        """Append tokens; returns (logits [S, V] float32, per-layer hidden states [S, H] if asked:
        index 0 = embeddings, l+1 = after layer l). Layers in ``skip`` are not run (a skip-set
        draft): their hidden state passes through and they cache nothing, so only use a session
        that always skips the same layers."""
        s = len(tokens)
        if s == 0:
            raise ValueError("forward needs at least one token")
        if self.length + s > self.max_seq:
            raise ValueError(f"{self.length + s} tokens exceed the cache of {self.max_seq}")
        p = self.length
        x = self.embed.run(None, {"input_ids": np.asarray([tokens], np.int64)})[0]  # [1, S, H]
        hidden = [x[0].astype(np.float32)] if hidden_states else []
        for i in range(self.num_layers):
            if i not in skip:
                x = self._run_layer(i, x, p)
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
