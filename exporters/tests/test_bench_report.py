"""The bench report marks every mode whose tokens differ from plain decoding (table, plot, JSON)."""

from __future__ import annotations

from pathlib import Path

from skipper_export.bench.__main__ import mark_differences, plot, table


def _doc() -> dict:
    def mode(rate: float, tokens: list[list[int]]) -> dict:
        return {"mean": {"decode_tokens_per_s": rate, "speedup_vs_ar": rate / 100.0},
                "prompts": [{"index": i, "tokens": t} for i, t in enumerate(tokens)]}

    return {"bundle": "/x/b", "threads": 2, "max_tokens": 4, "modes": ["ar", "spec", "llama.cpp", "llama.cpp-lookup"],
            "sets": {"chat": {"ar": mode(100.0, [[1, 2], [3, 4]]), "spec": mode(140.0, [[1, 2], [3, 5]]),
                              "llama.cpp": mode(90.0, [[1, 2], [3, 4]]), "llama.cpp-lookup": mode(95.0, [[1, 2], [3, 6]])}}}


def test_differing_modes_are_marked_in_json_table_and_plot(tmp_path: Path) -> None:
    doc = _doc()
    mark_differences(doc)
    chat = doc["sets"]["chat"]
    assert chat["spec"]["mean"]["prompts_differing_from_ar"] == 1
    assert [r["same_tokens_as_ar"] for r in chat["spec"]["prompts"]] == [True, False]
    assert chat["llama.cpp"]["mean"]["prompts_differing_from_ar"] == 0
    assert chat["llama.cpp-lookup"]["mean"]["prompts_differing_from_llama.cpp"] == 1
    assert "prompts_differing_from_ar" not in chat["ar"]["mean"]
    text = table(doc)
    spec_cell, llama_cell = text.splitlines()[2].split(" | ")[2:4]
    assert "tokens differ from ar on 1/2 prompts" in spec_cell and "differ" not in llama_cell
    out = tmp_path / "bench.png"
    plot(doc, out)
    assert out.stat().st_size > 1000
