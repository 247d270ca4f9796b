"""bench-serve's load driver against a stand-in OpenAI server (streams a fixed answer): every request
is counted once, tokens are the streamed content pieces, TTFT and rates are from the same clock, and a
refused request is an error, not a crash."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from skipper_export.bench.serve import load, table


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["messages"][0]["content"] == "refuse":
            self.send_response(429)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ["", "a", "b", "c"][: 1 + body["max_tokens"]]:
            time.sleep(0.01)
            delta = {"role": "assistant", "content": ""} if piece == "" else {"content": piece}
            chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")


def test_load_counts_requests_tokens_and_errors() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        r = load(base, "m", ["hello", "world"], concurrency=4, requests=8, max_tokens=3, timeout=10)
        assert r["requests"] == 8 and r["errors"] == 0
        assert r["tokens"] == 8 * 3
        assert 0 < r["ttft_p50_s"] <= r["ttft_p95_s"] < 5
        assert r["tokens_per_s"] > 0
        bad = load(base, "m", ["refuse"], concurrency=2, requests=2, max_tokens=3, timeout=10)
        assert bad["errors"] == 2 and bad["ttft_p50_s"] is None and "429" in bad["first_error"]
        rows = [dict(r, server="x"), dict(bad, server="y")]
        text = table(rows)
        assert text.count("\n") == 3 and "| x | 4 | 8 |" in text
    finally:
        server.shutdown()
