"""The Python generation path used by the demo: chat template, special tokens, streaming text."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import export_bundle
from skipper_export.tiny import make_tiny
from skipper_export.verify.bundle_session import BundleSession
from skipper_export.verify.generate import main, render_chat, stream_greedy
from skipper_export.verify.tokenizer import BundleTokenizer


@pytest.mark.parametrize("tok", ["spm", "bpe"])
def test_stream_equals_greedy_decode(tmp_path: Path, tok: str) -> None:
    src = make_tiny(tmp_path / "m", "gguf", tok, "Q8_0")
    bundle = export_bundle(src, tmp_path / "b")
    sess = BundleSession(bundle, max_seq=128)
    t = BundleTokenizer(bundle, sess.manifest)
    prompt = render_chat(sess.manifest["chat_template"], "Tell me about modules.")
    assert prompt.startswith("<|im_start|>") and prompt.endswith("assistant\n")
    ids = t.encode(prompt)
    im_start = sess.manifest["tokenizer"]["special_tokens"].get("<|im_start|>")
    if im_start is None:  # spm: user-defined, not control
        im_start = t._sp.PieceToId("<|im_start|>")  # type: ignore[attr-defined]
    assert im_start in ids, "ChatML markers must be single special tokens"
    pieces = list(stream_greedy(sess, t, ids, 24, eos_ids=set()))
    greedy = BundleSession(bundle, max_seq=128).greedy(ids, 24)
    assert "".join(pieces) == t.decode(greedy)
    assert all("\ufffd" not in p for p in pieces[:-1])


def test_cli_rejects_prompt_over_context(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_tiny(tmp_path / "m", "hf", "bpe", max_position=64)
    bundle = export_bundle(src, tmp_path / "b")
    rc = main(["--bundle", str(bundle), "--prompt", "word " * 200, "--raw"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "the context holds 64" in err and "tokens" in err
