"""The bundle's tokenizer from Python: tokenizer.json via HF tokenizers, tokenizer.model via
SentencePiece. Special tokens in the text (e.g. ChatML markers) are parsed as special tokens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


class BundleTokenizer:
    def __init__(self, bundle: Path, manifest: dict[str, Any]) -> None:
        spec = manifest["tokenizer"]
        self.kind = spec["kind"]
        self.bos_id = spec.get("bos_id")
        self.add_bos = bool(spec.get("add_bos"))
        self.special = {k: int(v) for k, v in (spec.get("special_tokens") or {}).items()}
        path = bundle / spec["file"]
        if self.kind == "bpe":
            from tokenizers import Tokenizer

            self._hf = Tokenizer.from_file(str(path))
        else:
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_file=str(path))
            # SentencePiece does not split on control pieces: do it here, longest first.
            names = sorted(self.special, key=len, reverse=True)
            self._split = re.compile("(" + "|".join(map(re.escape, names)) + ")") if names else None

    def encode(self, text: str) -> list[int]:
        ids: list[int] = [self.bos_id] if self.add_bos and self.bos_id is not None else []
        if self.kind == "bpe":
            return ids + self._hf.encode(text, add_special_tokens=False).ids
        parts = self._split.split(text) if self._split else [text]
        for p in parts:
            if p in self.special:
                ids.append(self.special[p])
            elif p:
                ids.extend(self._sp.EncodeAsIds(p))
        return ids

    def decode(self, ids: list[int]) -> str:
        if self.kind == "bpe":
            return self._hf.decode(ids, skip_special_tokens=True)
        return self._sp.DecodeIds([i for i in ids if i not in self.special.values()])
