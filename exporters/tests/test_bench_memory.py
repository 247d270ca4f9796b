"""bench --memory's merge: stage increments add up to each run's peak, the ratio is against
llama.cpp's peak, and a Java bench JSON without a memory section is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skipper_export.bench.memory import MB, main, rows, table

JAVA = {"peak_rss_bytes": 450 * MB, "stages_rss_bytes": {"start": 50 * MB, "engine_open": 380 * MB,
                                                        "session": 430 * MB, "end": 445 * MB},
        "kv_cache_bytes": 90 * MB, "weights_file_bytes": 137 * MB, "java_heap_committed_bytes": 40 * MB,
        "java_non_heap_committed_bytes": 26 * MB, "java_direct_bytes": 105 * MB, "context_length": 2048}
LLAMA = {"peak_rss_bytes": 225 * MB, "stages_rss_bytes": {"start": 12 * MB, "runtime_imported": 30 * MB,
                                                          "engine_open": 200 * MB, "end": 220 * MB}}


def test_stages_add_up_to_the_peak_and_the_ratio_is_against_llama_cpp() -> None:
    rs = rows({"ar": JAVA}, LLAMA)
    assert [r["run"] for r in rs] == ["skipper ar", "llama.cpp"]
    for r in rs:
        assert r["process"] + r["engine_open"] + r["session"] + r["generation"] == r["peak_rss_bytes"]
    text = table(rs, 2048)
    assert "| skipper ar | 450 | 50 | 330 | 50 | 20 | 2.00x |" in text
    assert "| llama.cpp | 225 | 12 | 188 | 0 | 25 | 1.00x |" in text
    assert "KV cache 90 MB at the full context," in text
    grown = rows({"ar": {**JAVA, "kv_cache_allocation": "grow"}}, None)
    assert "KV cache 90 MB at the full context (grown with the sequence" in table(grown, 2048)


def test_a_java_json_without_memory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"modes": ["ar"], "sets": {}}))
    assert main(["--java-json", str(old), "--no-llama-cpp"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no memory section" in err and str(old) in err


def test_skipper_only_writes_json(tmp_path: Path) -> None:
    j = tmp_path / "ar.json"
    j.write_text(json.dumps({"modes": ["ar"], "bundle": "b", "max_tokens": 8, "threads": 2, "chat": False,
                             "memory": JAVA}))
    out = tmp_path / "m.json"
    assert main(["--java-json", str(j), "--no-llama-cpp", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["context_length"] == 2048 and doc["rows"][0]["peak_rss_bytes"] == 450 * MB and doc["llama_cpp"] is None


def test_the_json_folder_is_made(tmp_path: Path) -> None:
    j = tmp_path / "ar.json"
    j.write_text(json.dumps({"modes": ["ar"], "bundle": "b", "max_tokens": 8, "threads": 2, "chat": False,
                             "memory": JAVA}))
    out = tmp_path / "new" / "dir" / "m.json"
    assert main(["--java-json", str(j), "--no-llama-cpp", "--json", str(out)]) == 0
    assert out.is_file()
