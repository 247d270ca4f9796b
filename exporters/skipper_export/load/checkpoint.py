"""What the loaders produce: a model's config, weights, tokenizer and chat template."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ModelConfig
from .weight import Weight


@dataclass(frozen=True)
class TokenizerSpec:
    """The tokenizer as files to place in the bundle, plus the special tokens the runtime needs."""

    kind: str  # "bpe" (byte-level BPE, tokenizer.json) | "spm" (SentencePiece, tokenizer.model)
    files: dict[str, bytes]  # bundle file name -> content
    bos_id: int | None
    eos_ids: tuple[int, ...]
    pad_id: int | None
    unk_id: int | None
    add_bos: bool
    special_tokens: dict[str, int] = field(default_factory=dict)  # text -> id of control tokens


@dataclass
class Checkpoint:
    source: str  # path it was read from
    source_format: str  # "gguf" | "hf"
    config: ModelConfig
    weights: dict[str, Weight]  # Hugging Face names
    tokenizer: TokenizerSpec
    chat_template: str | None
    name: str = ""

    def weight(self, name: str) -> Weight:
        from ..errors import ExportError

        w = self.weights.get(name)
        if w is None:
            raise ExportError(self.source, f"missing tensor '{name}'")
        return w

    def lm_head(self) -> Weight:
        """The LM head matrix [vocab, hidden]: the embedding table when tied."""
        if "lm_head.weight" in self.weights and not self.config.tie_word_embeddings:
            return self.weights["lm_head.weight"]
        return self.weight("model.embed_tokens.weight")

    def check_shapes(self) -> None:
        """Every tensor the graphs use exists with the shape the config implies."""
        from ..errors import ExportError

        c = self.config
        q_out, kv_out = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
        expect: dict[str, tuple[int, ...]] = {
            "model.embed_tokens.weight": (c.vocab_size, c.hidden_size),
            "model.norm.weight": (c.hidden_size,),
        }
        if not c.tie_word_embeddings:
            expect["lm_head.weight"] = (c.vocab_size, c.hidden_size)
        for i in range(c.num_layers):
            p = f"model.layers.{i}."
            expect[p + "input_layernorm.weight"] = (c.hidden_size,)
            expect[p + "post_attention_layernorm.weight"] = (c.hidden_size,)
            expect[p + "self_attn.q_proj.weight"] = (q_out, c.hidden_size)
            expect[p + "self_attn.k_proj.weight"] = (kv_out, c.hidden_size)
            expect[p + "self_attn.v_proj.weight"] = (kv_out, c.hidden_size)
            expect[p + "self_attn.o_proj.weight"] = (c.hidden_size, q_out)
            expect[p + "mlp.gate_proj.weight"] = (c.intermediate_size, c.hidden_size)
            expect[p + "mlp.up_proj.weight"] = (c.intermediate_size, c.hidden_size)
            expect[p + "mlp.down_proj.weight"] = (c.hidden_size, c.intermediate_size)
            if c.attention_bias:
                expect[p + "self_attn.q_proj.bias"] = (q_out,)
                expect[p + "self_attn.k_proj.bias"] = (kv_out,)
                expect[p + "self_attn.v_proj.bias"] = (kv_out,)
        for name, shape in expect.items():
            w = self.weight(name)
            if tuple(w.shape) != shape:
                raise ExportError(self.source, f"tensor '{name}' has shape {list(w.shape)}, expected {list(shape)} from the config")
