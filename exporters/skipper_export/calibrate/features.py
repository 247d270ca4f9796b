"""Teacher-forced harvest for the feature drafter: per position, the token's embedding, the last
layer's output (the "feature" the drafter predicts) and the full model's top-1 next token.

Only two of the L+1 hidden states are kept (the exit-head collection keeps all of them), so a few
hundred thousand tokens fit in memory: 2 x 4 x H bytes per token (4.6 KB for SmolLM2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .collect import TEST, split_of


@dataclass(frozen=True)
class Features:
    embedded: np.ndarray  # [n][H] float32: embed(x_t)
    feature: np.ndarray   # [n][H] float32: the last layer's output at t (before the final norm)
    final: np.ndarray     # [n] int64: the full model's top-1 next token after t
    starts: np.ndarray    # [passages + 1] int64: passage i is rows starts[i] .. starts[i+1]-1
    own_from: np.ndarray  # [passages] int64: rows from starts[i] + own_from[i] on are the model's own answer

    @property
    def passages(self) -> int:
        return len(self.starts) - 1

    def split(self, passage: int) -> int:
        return split_of(passage)

    def passage_ids(self, split: int) -> list[int]:
        return [i for i in range(self.passages) if split_of(i) == split]

    def test_ids(self) -> list[int]:
        return self.passage_ids(TEST)


def harvest(sess, passages: list[tuple[list[int], int]], progress=None) -> Features:
    """passages: (tokens, own_from). ``progress(n)`` is called with the tokens done."""
    emb, feat, final = [], [], []
    for tokens, _ in passages:
        sess.truncate(0)
        logits, hs = sess.forward(tokens, hidden_states=True)
        emb.append(hs[0])
        feat.append(hs[-1])
        final.append(logits.argmax(-1).astype(np.int64))
        if progress:
            progress(len(tokens))
    sess.truncate(0)
    starts = np.concatenate([[0], np.cumsum([len(t) for t, _ in passages])]).astype(np.int64)
    return Features(np.concatenate(emb).astype(np.float32), np.concatenate(feat).astype(np.float32),
                    np.concatenate(final), starts, np.asarray([o for _, o in passages], np.int64))
