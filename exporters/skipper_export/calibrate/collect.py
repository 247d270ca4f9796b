"""Teacher-forced pass over calibration passages: every layer's hidden state and the final top-1.

Passages are split by index into fit / validation / test (7:1:2) so adapters, their ridge strength
and the reported figures each see different text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIT, VAL, TEST = 0, 1, 2


@dataclass(frozen=True)
class Collected:
    hidden: np.ndarray  # [L+1][n][H] float32: 0 = embeddings, l+1 = after layer l
    final: np.ndarray   # [n] int64: the full model's top-1 next token at each position
    split: np.ndarray   # [n] int8: FIT, VAL or TEST (by passage)
    own: np.ndarray     # [n] bool: position inside the model's own generated text
    starts: np.ndarray  # [passages + 1] int64: passage i is rows starts[i] .. starts[i+1]-1

    def rows(self, split: int) -> np.ndarray:
        return np.flatnonzero(self.split == split)


def split_of(passage: int) -> int:
    r = passage % 10
    return TEST if r in (3, 8) else VAL if r == 6 else FIT


def collect(sess, passages: list[tuple[list[int], int]], progress: bool = True) -> Collected:
    """passages: (tokens, own_from) where tokens[own_from:] are the model's own generation."""
    from tqdm import tqdm

    hidden, final, split, own = [], [], [], []
    with tqdm(total=sum(len(t) for t, _ in passages), desc="teacher-forced pass", unit="tok",
              disable=not progress, leave=False) as bar:
        for i, (tokens, own_from) in enumerate(passages):
            sess.truncate(0)
            logits, hs = sess.forward(tokens, hidden_states=True)
            hidden.append(np.stack(hs).astype(np.float32))  # [L+1, S, H]
            final.append(logits.argmax(-1))
            split.append(np.full(len(tokens), split_of(i), np.int8))
            mask = np.zeros(len(tokens), bool)
            mask[own_from:] = True
            own.append(mask)
            bar.update(len(tokens))
    sess.truncate(0)
    starts = np.concatenate([[0], np.cumsum([len(t) for t, _ in passages])]).astype(np.int64)
    return Collected(np.concatenate(hidden, axis=1), np.concatenate(final), np.concatenate(split), np.concatenate(own),
                     starts)


def rms(x: np.ndarray, eps: float) -> np.ndarray:
    """Weightless RMSNorm (the norm's gain is folded into the head matrix)."""
    x = x.astype(np.float32)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + np.float32(eps))


def probe_head(sess, hidden_size: int) -> np.ndarray:
    """The bundle's final norm gain times its LM head as one matrix [H, V], read by running the
    head graph on scaled unit vectors: rmsnorm(c e_k) = sqrt(H) g_k e_k, so logits/sqrt(H) is row k.
    Works for every weight format the exporter writes (the graph is linear after the norm)."""
    c = 1024.0
    rows = []
    for start in range(0, hidden_size, 64):
        n = min(64, hidden_size - start)
        x = np.zeros((n, hidden_size), np.float32)
        x[np.arange(n), start + np.arange(n)] = c
        rows.append(sess.layer_hidden_to_logits(x) / np.sqrt(hidden_size))
    return np.concatenate(rows).astype(np.float32)
