"""The K/V-only graphs (lossy adaptive depth) write exactly what the full layer writes for the same
hidden states, in both KV layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skipper_export.tiny import make_tiny
from skipper_export.verify.bundle_session import BundleSession

from helpers import export_bundle, reference_bounds


@pytest.mark.parametrize("flavour", ["ort", "standard"])
def test_kv_fill_matches_the_layer(tmp_path: Path, flavour: str) -> None:
    src = make_tiny(tmp_path / "m", "hf", "bpe", layers=3)
    bundle = export_bundle(src, tmp_path / "b", weights="fp32", flavour=flavour)
    full = BundleSession(bundle, max_seq=64, threads=1)
    fill = BundleSession(bundle, max_seq=64, threads=1)
    assert len(full.kv_fill) == 3
    prompt = [5, 9, 13, 2, 7, 11]
    _, hidden = full.forward(prompt, hidden_states=True)  # hidden[l] = input of layer l
    # Two float32 computations of the same rows: within twice the float32 yardstick of each other.
    bound = reference_bounds(src, prompt)
    fill.forward(prompt[:2])  # a cache with 2 rows, then K/V of rows 2.. from the layers' inputs
    for layer in range(3):
        fill.fill_kv(layer, hidden[layer][None, 2:], 2)
        k_want, v_want = full.kv_rows(layer, len(prompt))
        fill.length = len(prompt)
        k_got, v_got = fill.kv_rows(layer, len(prompt))
        fill.length = 2
        assert np.abs(k_got - k_want).max() <= 2 * bound["k"][layer], f"layer {layer} keys"
        assert np.abs(v_got - v_want).max() <= 2 * bound["v"][layer], f"layer {layer} values"
        assert np.abs(k_want[2:]).max() > 0.01  # real rows, not zeros
