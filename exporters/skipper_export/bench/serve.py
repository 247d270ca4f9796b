"""``./skipper bench-serve``: load on an OpenAI-compatible server, Skipper's and llama.cpp's in one run.

N concurrent streaming clients on loopback (each one request at a time, greedy chat completions of
the shipped chat prompts) at each concurrency level; per level: p50/p95 time to first token,
aggregate completion tokens/s, errors. The same load goes to Skipper's server (``./skipper serve``)
and to llama.cpp's (``llama_cpp.server`` from llama-cpp-python on the bundle's source GGUF), each
started here, measured, and stopped before the next, so they never share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import ExportError, OneLineArgumentParser

MAX_CONCURRENCY = 64
MAX_REQUESTS = 512


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            f = getattr(proc, "err_file", None)
            err = []
            if f is not None:
                f.seek(0)
                err = f.read().decode("utf-8", "replace").strip().splitlines()
            raise ExportError("server", f"exited with status {proc.returncode} before it listened"
                              + (f": {err[-1][:300]}" if err else ""))
        try:
            with urllib.request.urlopen(base + "/v1/models", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    raise ExportError("server", f"did not answer on {base} within {seconds:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def one_request(base: str, model: str, prompt: str, max_tokens: int, timeout: float) -> dict:
    """A streamed chat completion; time to the first content delta, content chunks, end."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                       "temperature": 0, "stream": True}).encode()
    req = urllib.request.Request(base + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    first = None
    chunks = 0
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            for raw in r:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                for c in event.get("choices") or []:
                    if (c.get("delta") or {}).get("content"):
                        chunks += 1  # one streamed piece per generated token (both servers)
                        if first is None:
                            first = time.perf_counter()
    except (urllib.error.URLError, OSError, ValueError) as e:
        return {"error": str(e)[:200], "start": t0, "end": time.perf_counter()}
    end = time.perf_counter()
    return {"ttft": (first or end) - t0, "tokens": chunks, "start": t0, "end": end}


def load(base: str, model: str, prompts: list[str], concurrency: int, requests: int, max_tokens: int,
         timeout: float) -> dict:
    work = [prompts[i % len(prompts)] for i in range(requests)]
    lock = threading.Lock()
    results: list[dict] = []

    def client(k: int) -> None:
        for i in range(k, len(work), concurrency):
            r = one_request(base, model, work[i], max_tokens, timeout)
            with lock:
                results.append(r)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client, range(concurrency)))
    ok = [r for r in results if "error" not in r]
    ttfts = sorted(r["ttft"] for r in ok)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {"concurrency": concurrency, "requests": len(results), "errors": len(results) - len(ok),
            "ttft_p50_s": round(statistics.median(ttfts), 3) if ttfts else None,
            "ttft_p95_s": round(ttfts[min(len(ttfts) - 1, int(0.95 * len(ttfts)))], 3) if ttfts else None,
            "tokens": sum(r["tokens"] for r in ok), "tokens_per_s": round(sum(r["tokens"] for r in ok) / wall, 2),
            "first_error": next((r["error"] for r in results if "error" in r), None)}


def serve_and_load(name: str, cmd: list[str], model: str, prompts: list[str], levels: list[int], per_level: int,
                   max_tokens: int, port: int, log) -> list[dict]:
    base = f"http://127.0.0.1:{port}"
    log(f"bench-serve: starting {name}: {' '.join(cmd)[:200]}")
    import tempfile

    # The server's own output goes to a file (a pipe nobody reads would block a chatty server).
    err_file = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=err_file)
    proc.err_file = err_file  # type: ignore[attr-defined]
    try:
        wait_ready(base, proc, 600)
        one_request(base, model, prompts[0], 8, 120)  # warm-up, untimed
        rows = []
        for c in levels:
            r = load(base, model, prompts, c, max(per_level, c), max_tokens, 600)
            r["server"] = name
            log(f"  {name} c={c}: {r['tokens_per_s']} tok/s, TTFT p50 {r['ttft_p50_s']} s p95 {r['ttft_p95_s']} s, "
                f"{r['errors']} errors")
            rows.append(r)
        return rows
    finally:
        stop(proc)
        err_file.close()


def table(rows: list[dict]) -> str:
    out = ["| server | clients | requests | tokens/s | TTFT p50 (s) | TTFT p95 (s) | errors |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['server']} | {r['concurrency']} | {r['requests']} | {r['tokens_per_s']} | "
                   f"{r['ttft_p50_s']} | {r['ttft_p95_s']} | {r['errors']} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = OneLineArgumentParser(prog="skipper bench-serve", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skipper", required=True, help="the command that runs ./skipper (the launcher)")
    p.add_argument("--config", type=Path, required=True, help="deployment file served by Skipper")
    p.add_argument("--gguf", type=Path, default=None, help="GGUF for llama.cpp's server (default: none, Skipper only)")
    p.add_argument("--prompts", type=Path, required=True, help="prompt file (one per line)")
    p.add_argument("--concurrency", default="1,2,4,8", help="client counts (default 1,2,4,8)")
    p.add_argument("--requests", type=int, default=8, help="requests per level, at least the client count (default 8)")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--sessions", type=int, default=1, help="Skipper's session pool (default 1, as llama.cpp's server)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    a = p.parse_args(argv)
    try:
        levels = [int(x) for x in a.concurrency.split(",") if x.strip()]
        if not levels or any(not 1 <= c <= MAX_CONCURRENCY for c in levels):
            raise ValueError
    except ValueError:
        print(f"error: --concurrency: need client counts in 1..{MAX_CONCURRENCY}, got '{a.concurrency[:40]}'",
              file=sys.stderr)
        return 2
    if not 1 <= a.requests <= MAX_REQUESTS or not 1 <= a.max_tokens <= 4096 or not 1 <= a.sessions <= 64:
        print("error: --requests/--max-tokens/--sessions out of range", file=sys.stderr)
        return 2
    try:
        prompts = [l.replace("\\n", "\n") for l in a.prompts.read_text(encoding="utf-8").splitlines() if l.strip()]
        if not prompts:
            raise ExportError(str(a.prompts), "no prompts")
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        port = free_port()
        rows = serve_and_load("skipper", [a.skipper, "serve", "--config", str(a.config), "--port", str(port),
                                          "--sessions", str(a.sessions), "--queue", str(max(levels)),
                                          "--threads", str(a.threads), "--model-id", "m"],
                              "m", prompts, levels, a.requests, a.max_tokens, port, log)
        if a.gguf is not None:
            port = free_port()
            rows += serve_and_load("llama.cpp", [sys.executable, "-m", "llama_cpp.server", "--model", str(a.gguf),
                                                 "--model_alias", "m", "--host", "127.0.0.1", "--port", str(port),
                                                 "--n_ctx", "2048", "--n_threads", str(a.threads)],
                                   "m", prompts, levels, a.requests, a.max_tokens, port, log)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table(rows))
    if a.json is not None:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
        tmp.replace(a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
