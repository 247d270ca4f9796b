"""The feature drafter on tiny models: training (loss goes down, determinism), the exported graph
against the numpy forward, its KV cache (incremental = batched, rollback), calibration's manifest
section, the acceptance arithmetic, and training text kept off the benchmark's prompts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

from skipper_export.bundle.manifest import config_from_manifest
from skipper_export.calibrate.__main__ import DrafterBudget, calibrate
from skipper_export.calibrate.collect import probe_head
from skipper_export.calibrate.feature_drafter import chain_acceptance, forward_numpy, train
from skipper_export.calibrate.feature_eval import DrafterSession
from skipper_export.calibrate.feature_graph import feature_drafter_graph
from skipper_export.calibrate.features import Features, harvest
from skipper_export.calibrate.text import benchmark_topics, drafter_prompts
from skipper_export.errors import ExportError
from skipper_export.tiny import make_tiny
from skipper_export.verify.bundle_session import BundleSession, load_manifest

from helpers import export_bundle

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["ort", "standard"])
def harvested(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"fd-{request.param}")
    src = make_tiny(tmp / "m", "hf", "bpe", layers=2)
    bundle = export_bundle(src, tmp / "b", weights="fp32", flavour=request.param)
    m = load_manifest(bundle)
    sess = BundleSession(bundle, max_seq=512, threads=1, verify=False)
    rng = np.random.default_rng(0)
    passages = []
    for i in range(20):  # the model's own greedy text after a random prompt: what the drafter learns
        prompt = [int(x) for x in rng.integers(3, 400, 12)]
        passages.append((prompt + sess.greedy(prompt, 60), len(prompt)))
    feats = harvest(sess, passages)
    head = probe_head(sess, int(m["model"]["hidden_size"]))
    return bundle, m, sess, feats, head


def _train(feats, m, head, seed=0, updates=40):
    return train(feats, config_from_manifest(m), head, np.arange(head.shape[1]), seed=seed, minutes=5,
                 max_updates=updates, batch=4, length=32, lr=3e-3, eval_every=1000)


def test_training_lowers_the_loss_and_is_deterministic(harvested) -> None:
    _, m, _, feats, head = harvested
    a = _train(feats, m, head)
    b = _train(feats, m, head)
    assert a.report.steps == 40
    assert a.report.loss_last < 0.8 * a.report.loss_first, (a.report.loss_first, a.report.loss_last)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)
    c = _train(feats, m, head, seed=1)
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)


def test_fused_features_train_deterministically_and_have_no_graph_yet(harvested) -> None:
    """EAGLE-3-style fused input (more hidden states of the target added to the first step through a
    projection that starts at zero): training is deterministic, the projection learns (moves off
    zero), the other weights follow another path than the plain drafter's, and exporting such a
    drafter is refused (its graph does not take the extra states yet)."""
    bundle, m, sess, feats, head = harvested
    rng = np.random.default_rng(4)
    extra = (rng.standard_normal(feats.feature.shape).astype(np.float32),)
    cfg = config_from_manifest(m)

    def fused(seed: int = 0):
        return train(feats, cfg, head, np.arange(head.shape[1]), seed=seed, minutes=5, max_updates=20, batch=4,
                     length=32, lr=3e-3, eval_every=1000, fused=extra)

    a, b = fused(), fused()
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)
    assert a.params["fuse_w"].shape == (2 * cfg.hidden_size, cfg.hidden_size)
    assert np.abs(a.params["fuse_w"]).max() > 0
    plain = _train(feats, m, head, updates=20)
    assert set(plain.params) == set(a.params) - {"fuse_w"}
    assert not np.array_equal(plain.params["wq"], a.params["wq"])
    with pytest.raises(ValueError, match="fused features"):
        feature_drafter_graph(a, cfg, head, "fp32", m["flavour"], "float32", 0)


def test_exported_graph_matches_the_numpy_forward_and_rolls_back(harvested) -> None:
    _, m, sess, feats, head = harvested
    d = _train(feats, m, head, updates=10)
    cfg = config_from_manifest(m)
    graph = feature_drafter_graph(d, cfg, head, "fp32", m["flavour"], "float32", 0).SerializeToString()
    ds = DrafterSession(sess, graph)
    n = 30
    f, e = feats.feature[:n], feats.embedded[1:n + 1]
    out, logits = ds.run(f, e)
    ref, _ = forward_numpy(d, f, e)
    scale = np.abs(ref).max()
    assert np.abs(out - ref).max() <= 1e-5 * scale + 1e-5, np.abs(out - ref).max()
    y = ref / np.sqrt((ref * ref).mean(-1, keepdims=True) + cfg.rms_norm_eps)
    np.testing.assert_allclose(logits, y @ head, rtol=1e-4, atol=1e-4 * np.abs(y @ head).max())
    # One position at a time through the cache gives the batched rows.
    ds.truncate(0)
    rows = np.concatenate([ds.run(f[i:i + 1], e[i:i + 1])[0] for i in range(n)])
    np.testing.assert_allclose(rows, out, rtol=1e-5, atol=1e-5 * scale)
    # Rollback by length: drafting junk after position 10 and truncating leaves no trace.
    ds.truncate(10)
    ds.run(np.full((5, f.shape[1]), 3.0, np.float32), e[10:15] * 0 + 1)
    ds.truncate(10)
    again, _ = ds.run(f[10:n], e[10:n])
    np.testing.assert_allclose(again, out[10:], rtol=1e-5, atol=1e-5 * scale)


def test_chain_acceptance_counts_rounds_whose_every_draft_is_right() -> None:
    # One passage of 8 own rows; final[r] is the target's token after row r.
    final = np.array([5, 6, 7, 8, 9, 10, 11, 12], np.int64)
    z = np.zeros((8, 2), np.float32)
    feats = Features(z, z, final, np.array([0, 8]), np.array([0]))
    rows = np.arange(1, 8)[None]  # drafter position i predicts row i+1
    step1 = final[rows].copy()
    step2 = final[rows].copy()
    step2[0, 3] = 0  # the round ending at position 2 fails its second draft
    rates = chain_acceptance([step1, step2], rows, feats, 2)
    assert rates[0] == 1.0
    assert rates[1] == pytest.approx(5 / 6)  # 6 rounds fit both drafts; one of them stops at one


def test_calibrate_stores_a_measured_feature_drafter(tmp_path: Path) -> None:
    src = make_tiny(tmp_path / "m", "hf", "bpe", layers=2)
    bundle = export_bundle(src, tmp_path / "b", weights="fp32")
    budget = DrafterBudget(minutes=1, max_updates=20, prompts=4, answer_tokens=24, text_tokens=512, measure_rounds=40)
    result = calibrate(bundle, budget=96, own=24, threads=1, progress=False, exit_tokens=600, own_passages=2,
                       skip_search=False, draft_vocab=128, drafter=budget)
    m = load_manifest(bundle)  # every hash verified, the drafter's included
    fd = m["feature_drafter"]
    assert fd["file"] == "draft/feature_drafter.onnx" and fd["file"] in m["files"]
    assert fd["vocab"] == {"file": "draft/vocab.i32", "dtype": "int32", "size": 128}
    assert [t["name"] for t in fd["inputs"]][:2] == ["feature", "embedded"]
    assert [t["name"] for t in fd["outputs"]][:2] == ["feature_out", "logits"]
    assert fd["outputs"][1]["shape"] == [1, "seq", 128]
    meas = fd["measured"]
    assert len(meas["acceptance"]) == 6 and meas["rounds"] > 0
    assert all(0 <= a <= 1 for a in meas["acceptance"])
    assert all(x >= y for x, y in zip(meas["acceptance"], meas["acceptance"][1:]))  # a chain only shrinks
    assert meas["draft_cost"] > 0 and 1 <= meas["draft_len"] <= 6
    assert fd["training"]["updates"] == 20 and fd["training"]["tokens"] > 0
    assert result["feature_drafter"]["measured"] == meas
    # The agreement record and figure carry the drafter's rows (the figure gains a panel: wider).
    record = json.loads((bundle / "calibration/agreement.json").read_text())["feature_drafter"]
    assert record["acceptance_per_position"] == meas["acceptance"]
    assert record["mean_accepted_per_round"] == meas["mean_accepted"] and record["draft_cost"] == meas["draft_cost"]
    with_drafter = _png_width(bundle / "calibration/agreement.png")
    # The draft corpus: the model's own answers to the drafter's 4 prompts, each ended by -1.
    dc = m["draft_corpus"]
    assert dc["file"] == "draft/corpus.i32" and dc["file"] in m["files"] and dc["sequences"] == 4
    ids = np.frombuffer((bundle / dc["file"]).read_bytes(), "<i4")
    assert len(ids) == dc["tokens"] == result["draft_corpus"]["tokens"]
    assert (ids == -1).sum() == 4 and ids[-1] == -1 and ids.max() < int(m["model"]["vocab_size"])
    answers = np.split(ids, np.flatnonzero(ids == -1) + 1)[:4]
    assert all(2 <= len(a) <= 25 and (a[:-1] >= 0).all() for a in answers)  # up to 24 tokens, then -1
    # Recalibrating without it removes the section and the file together.
    calibrate(bundle, budget=96, own=24, threads=1, progress=False, exit_tokens=600, own_passages=2,
              skip_search=False, draft_vocab=128)
    m = load_manifest(bundle)
    assert "feature_drafter" not in m and "draft/feature_drafter.onnx" not in m["files"]
    assert "draft_corpus" not in m and not (bundle / "draft/corpus.i32").exists()
    assert not (bundle / "draft/feature_drafter.onnx").exists()
    assert "feature_drafter" not in json.loads((bundle / "calibration/agreement.json").read_text())
    assert _png_width(bundle / "calibration/agreement.png") < with_drafter


def _png_width(path: Path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big")  # IHDR width


def test_bad_budgets_are_refused_before_any_work(tmp_path: Path) -> None:
    src = make_tiny(tmp_path / "m", "hf", "bpe", layers=2)
    bundle = export_bundle(src, tmp_path / "b", weights="fp32")
    before = (bundle / "manifest.yaml").read_bytes()
    for bad, flag in ((DrafterBudget(minutes=0), "--train-minutes"), (DrafterBudget(prompts=-1), "--drafter-prompts"),
                      (DrafterBudget(prompts=0, text_tokens=0), "--drafter-text-tokens")):
        with pytest.raises(ExportError, match=flag):
            calibrate(bundle, budget=96, own=24, threads=1, progress=False, drafter=bad)
    assert (bundle / "manifest.yaml").read_bytes() == before


def test_training_prompts_stay_off_the_benchmark() -> None:
    prompts = drafter_prompts(10_000)
    assert len(prompts) > 200
    bench = []
    for name in ("chat", "grounded", "code"):
        bench += (REPO / "benchmarks/prompts" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    assert not set(prompts) & set(bench)
    held = benchmark_topics()
    chat = [p for p in prompts if "'" in p.split("\n")[0] and p.startswith("Explain the Python topic")]
    assert chat and not any(f"'{t}'" in p for p in chat for t in held)
    import difflib, fnmatch, heapq, inspect, shlex, statistics, string, textwrap

    for f in (textwrap.dedent, heapq.nsmallest, shlex.quote, fnmatch.translate, heapq.merge, string.capwords,
              statistics.median, difflib.get_close_matches):  # the code set's functions (make_prompts.py)
        assert not any(inspect.getsource(f).rstrip()[:300] in p for p in prompts), f.__name__


def test_the_drafter_cache_is_reused_keyed_and_never_trusted_blindly(tmp_path: Path, monkeypatch) -> None:
    from skipper_export.calibrate import feature_cache

    src = make_tiny(tmp_path / "m", "hf", "bpe", layers=2)
    bundle = export_bundle(src, tmp_path / "b", weights="fp32")
    cache = tmp_path / "cache"
    budget = DrafterBudget(minutes=1, max_updates=4, prompts=2, answer_tokens=16, text_tokens=256, measure_rounds=8,
                           cache=cache)
    kw = dict(budget=96, own=24, threads=1, progress=False, exit_tokens=600, own_passages=2, skip_search=False,
              draft_vocab=128)
    first = calibrate(bundle, drafter=budget, **kw)
    entries = sorted(cache.glob("features-*.npz"))
    assert len(entries) == 1 and not list(cache.glob(".features-*"))
    calls = []
    real_harvest = __import__("skipper_export.calibrate.features", fromlist=["harvest"]).harvest
    monkeypatch.setattr("skipper_export.calibrate.features.harvest",
                        lambda *a, **k: calls.append(1) or real_harvest(*a, **k))
    second = calibrate(bundle, drafter=budget, **kw)
    assert calls == []  # the harvest came from the cache
    assert second["feature_drafter"]["training"]["tokens"] == first["feature_drafter"]["training"]["tokens"]
    # Same training given the same harvest and seed: the measured figures match.
    assert second["feature_drafter"]["measured"]["acceptance"] == first["feature_drafter"]["measured"]["acceptance"]
    # Another text budget is another entry; a damaged entry is harvested again and replaced.
    m = load_manifest(bundle)
    assert feature_cache.cache_key(m, 2, 16, 256) != feature_cache.cache_key(m, 2, 16, 512)
    entries[0].write_bytes(entries[0].read_bytes()[:100])
    assert feature_cache.load(entries[0], int(m["model"]["hidden_size"])) is None
    calibrate(bundle, drafter=budget, **kw)
    assert calls == [1]
    assert feature_cache.load(entries[0], int(m["model"]["hidden_size"])) is not None
    # The standalone corpus command rebuilds calibration's corpus from the cached harvest, byte for byte.
    from skipper_export.calibrate import corpus

    written = (bundle / "draft/corpus.i32").read_bytes()
    (bundle / "draft/corpus.i32").write_bytes(b"damaged")
    assert corpus.main([str(bundle), "--drafter-cache", str(cache), "--threads", "1"]) == 0
    assert (bundle / "draft/corpus.i32").read_bytes() == written
    assert load_manifest(bundle)["draft_corpus"]["source"] == "harvest"  # hashes verified on load
    empty = tmp_path / "empty"
    empty.mkdir()
    assert corpus.main([str(bundle), "--drafter-cache", str(empty)]) == 2


def test_fusion_study_recovers_the_tokens_and_trains_both(harvested) -> None:
    """The study finds each harvested row's token from its embedding, reruns the model for the extra
    hidden states (the last layer must come out as cached), and trains a plain and a fused drafter
    for the same updates; a harvest from another model is refused."""
    from skipper_export.calibrate.fusion_study import extra_states, study, tokens_of

    _, m, sess, feats, head = harvested
    cfg = config_from_manifest(m)
    tokens = tokens_of(sess, feats.embedded, cfg.vocab_size)
    emb = sess.embed.run(None, {"input_ids": tokens[None]})[0][0]
    np.testing.assert_array_equal(emb, feats.embedded)
    low, = extra_states(sess, feats, tokens, [1])
    first = slice(int(feats.starts[0]), int(feats.starts[1]))
    sess.truncate(0)
    _, hs = sess.forward([int(t) for t in tokens[first]], hidden_states=True)
    np.testing.assert_array_equal(low[first], hs[1])
    r = study(sess, cfg, feats, head, np.arange(head.shape[1]), [1, 2], updates=4, eval_every=2, batch=4,
              length=32)
    assert [e["step"] for e in r["plain"]["history"]] == [1, 2, 4] == [e["step"] for e in r["fused"]["history"]]
    with pytest.raises(ValueError, match="not this bundle's rows"):
        tokens_of(sess, feats.embedded + 1.0, cfg.vocab_size)


def test_kangaroo_study_feeds_the_shallow_state_at_the_tokens_own_position(harvested, monkeypatch) -> None:
    """``--current E``: each training reads the hidden state after the first E layers at the row's own
    position where the plain drafter reads the embedding; everything else is the cached harvest."""
    from skipper_export.calibrate import feature_drafter
    from skipper_export.calibrate.fusion_study import current_study, tokens_of

    _, m, sess, feats, head = harvested
    cfg = config_from_manifest(m)
    seen = []
    real_train = feature_drafter.train
    monkeypatch.setattr(feature_drafter, "train", lambda f, *a, **k: seen.append(f) or real_train(f, *a, **k))
    r = current_study(sess, cfg, feats, head, np.arange(head.shape[1]), [1], updates=2, eval_every=2, batch=4,
                      length=32)
    assert [e["step"] for e in r["exit1"]["history"]] == [1, 2] and r["depths"] == [1]
    tokens = tokens_of(sess, feats.embedded, cfg.vocab_size)
    first = slice(int(feats.starts[0]), int(feats.starts[1]))
    sess.truncate(0)
    _, hs = sess.forward([int(t) for t in tokens[first]], hidden_states=True)
    (f,) = seen
    np.testing.assert_array_equal(f.embedded[first], hs[1])
    assert not np.array_equal(f.embedded[first], feats.embedded[first])
    np.testing.assert_array_equal(f.feature, feats.feature)
    np.testing.assert_array_equal(f.final, feats.final)


def test_retrain_adds_answers_from_a_bench_run_to_the_drafter_and_the_corpus(tmp_path: Path) -> None:
    """calibrate.retrain: a bench --json run's answers are harvested, appended to the cached harvest,
    the drafter retrained on both and the corpus rebuilt from every answer; a run made with another
    tokenization is refused before anything is written."""
    from skipper_export.calibrate import retrain
    from skipper_export.calibrate.__main__ import _chat
    from skipper_export.verify.tokenizer import BundleTokenizer

    src = make_tiny(tmp_path / "m", "hf", "bpe", layers=2)
    bundle = export_bundle(src, tmp_path / "b", weights="fp32")
    cache = tmp_path / "cache"
    budget = DrafterBudget(minutes=1, max_updates=4, prompts=2, answer_tokens=16, text_tokens=256, measure_rounds=8,
                           cache=cache)
    calibrate(bundle, budget=96, own=24, threads=1, progress=False, exit_tokens=600, own_passages=2, skip_search=False,
              draft_vocab=128, drafter=budget)
    before = load_manifest(bundle)
    m = before
    encode, chat = BundleTokenizer(bundle, m).encode, _chat(m)
    sess = BundleSession(bundle, max_seq=256, threads=1, verify=False)
    rows = []
    for i, text in enumerate(["What is a list?", "Explain loops briefly."]):
        ids = encode(chat(text) if chat else text)
        rows.append({"index": i, "prompt": text, "prompt_tokens": len(ids), "tokens": sess.greedy(ids, 12)})
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"sets": {"more": {"spec": {"prompts": rows}}}}))
    args = [str(bundle), "--answers", str(answers), "--drafter-cache", str(cache), "--train-minutes", "1",
            "--max-updates", "3", "--measure-rounds", "8", "--threads", "1", "--no-progress"]
    assert retrain.main(args) == 0
    after = load_manifest(bundle)  # hashes verified
    old_t, new_t = before["feature_drafter"]["training"], after["feature_drafter"]["training"]
    assert new_t["tokens"] == old_t["tokens"] + sum(r["prompt_tokens"] + 12 for r in rows)
    assert new_t["own_tokens"] == old_t["own_tokens"] + 24 and new_t["updates"] == 3
    assert after["draft_corpus"]["sequences"] == before["draft_corpus"]["sequences"] + 2
    ids = np.frombuffer((bundle / "draft/corpus.i32").read_bytes(), "<i4")
    assert list(ids[-13:]) == rows[1]["tokens"] + [-1]
    rows[0]["prompt_tokens"] += 1
    answers.write_text(json.dumps({"sets": {"more": {"spec": {"prompts": rows}}}}))
    manifest_bytes = (bundle / "manifest.yaml").read_bytes()
    assert retrain.main(args) == 2
    assert (bundle / "manifest.yaml").read_bytes() == manifest_bytes
