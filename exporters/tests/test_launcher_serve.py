"""`./skipper serve` through the launcher, as an operator runs it: it prints where it listens, a
streamed answer in flight when SIGTERM arrives ends with `data: [DONE]`, and the process exits 0
and stops listening (graceful shutdown, issue 14)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from helpers import export_bundle
from skipper_export.tiny import make_tiny

ROOT = Path(__file__).resolve().parents[2]


def _read_until_listening(proc: subprocess.Popen, lines: list[str], deadline: float) -> int:
    """The port from serve's 'at http://127.0.0.1:PORT' line (the launcher may build the CLI first)."""
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError("serve ended before listening:\n" + "".join(lines))
        lines.append(line)
        m = re.search(r"at http://127\.0\.0\.1:(\d+) ", line)
        if m:
            return int(m.group(1))
    raise AssertionError("serve did not listen in time:\n" + "".join(lines))


def test_sigterm_finishes_the_stream_in_flight_and_exits_zero(tmp_path: Path) -> None:
    bundle = export_bundle(make_tiny(tmp_path / "m", "gguf", "bpe", "Q4_1"), tmp_path / "b")
    proc = subprocess.Popen([str(ROOT / "skipper"), "serve", "--bundle", str(bundle), "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    try:
        port = _read_until_listening(proc, err, time.monotonic() + 600)
        threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30) as resp:
            model = json.load(resp)["data"][0]["id"]
        body = json.dumps({"model": model, "stream": True, "max_tokens": 200,
                           "messages": [{"role": "user", "content": "tell a long story"}]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        events: list[str] = []
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert resp.status == 200
            signalled_after = None
            for raw in resp:
                line = raw.decode().strip()
                if not line.startswith("data: "):
                    continue
                events.append(line[6:])
                if signalled_after is None:
                    proc.send_signal(signal.SIGTERM)  # with the answer still streaming
                    signalled_after = len(events)
        assert signalled_after == 1
        assert events[-1] == "[DONE]", events[-3:]
        finals = [json.loads(e) for e in events[:-1] if json.loads(e)["choices"][0]["finish_reason"]]
        assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] in ("length", "stop"), events[-3:]
        assert proc.wait(timeout=60) == 0, "".join(err)
        time.sleep(0.5)  # the reader thread drains the last lines
        assert any("serve: stopped" in line for line in err), "".join(err)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "still listening after exit"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
