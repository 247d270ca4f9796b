"""The ROS 2 node's round trip against an independent DDS peer (Fast DDS), on loopback.

    python examples/ros2-node/test/roundtrip.py --bundle DIR [--skipper ./skipper] [--json FILE]

Starts Skipper's server on the bundle, the node (Cyclone DDS) and the Fast DDS peer
(``fastdds_peer.cpp``, built here from Debian's Fast DDS packages, which are fetched with
``apt-get download`` and unpacked under ``build/fastdds``: no root, nothing installed). The peer
sends a goal, a goal it cancels at its first streamed text and a malformed goal; this script checks
the results against the server's own answer to the same request. Every wait is bounded; exit 0 only
when every check holds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE.parent
ROOT = NODE_DIR.parent.parent
FASTDDS_DIR = ROOT / "build" / "fastdds"
# Debian 12's Fast DDS 2.9 and what it links against (headers included)
FASTDDS_DEBS = ["libfastrtps2.9", "libfastrtps-dev", "libfastcdr1", "libfastcdr-dev", "libfoonathan-memory0.7.2",
                "libfoonathan-memory-dev", "libtinyxml2-9", "libtinyxml2-dev", "libasio-dev"]
PROMPT = "The robot arm picked up the red block and"


def log(msg: str) -> None:
    print(f"ros2 round trip: {msg}", file=sys.stderr, flush=True)


def fastdds_peer() -> Path:
    """The peer's binary, built once (again when its source changes)."""
    root = FASTDDS_DIR / "root"
    exe = FASTDDS_DIR / "fastdds_peer"
    src = HERE / "fastdds_peer.cpp"
    if not (root / "usr/include/fastdds").is_dir():
        if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
            raise SystemExit("ros2 round trip: needs apt-get and dpkg to fetch Debian's Fast DDS packages")
        debs = FASTDDS_DIR / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        log("fetching Fast DDS 2.9 from Debian (apt-get download, ~3 MB)")
        r = subprocess.run(["apt-get", "download", *FASTDDS_DEBS], cwd=debs, capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise SystemExit(f"ros2 round trip: apt-get download failed: {r.stderr.strip().splitlines()[-1:]}")
        tmp = Path(tempfile.mkdtemp(dir=FASTDDS_DIR))
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True, timeout=120)
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        cxx = shutil.which("g++") or shutil.which("c++")
        if cxx is None:
            raise SystemExit("ros2 round trip: needs a C++ compiler (g++) for the Fast DDS peer")
        usr = root / "usr"
        # Debian's multiarch folder (x86_64-linux-gnu, aarch64-linux-gnu on a Jetson)
        found = sorted(usr.glob("lib/*/libfastrtps.so"))
        if not found:
            raise SystemExit(f"ros2 round trip: no libfastrtps.so under {usr}/lib")
        lib = found[0].parent
        multiarch = lib.name
        log("building the Fast DDS peer (g++, ~10 s)")
        tmp_exe = exe.with_suffix(".tmp")
        subprocess.run([cxx, "-std=c++17", "-O1", "-o", str(tmp_exe), str(src), f"-I{usr / 'include'}",
                        f"-I{usr / 'include' / multiarch}", f"-L{lib}", "-lfastrtps", "-lfastcdr",
                        # RPATH (not RUNPATH) so that Fast DDS finds its own dependencies there too
                        f"-Wl,--disable-new-dtags,-rpath,{lib}", "-lpthread"], check=True, timeout=300)
        tmp_exe.replace(exe)
    return exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"ros2 round trip: the server exited ({proc.returncode}) before it answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"ros2 round trip: the server did not answer {url} within {limit_s:g} s")


def direct_completion(base: str, prompt: str, max_tokens: int) -> str:
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0}).encode()
    req = urllib.request.Request(base + "/v1/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())["choices"][0]["text"]


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, required=True, help="bundle the server serves")
    ap.add_argument("--skipper", type=Path, default=ROOT / "skipper", help="the launcher (default: ./skipper)")
    ap.add_argument("--max-tokens", type=int, default=24, help="goal (a)'s length")
    ap.add_argument("--long-max-tokens", type=int, default=400, help="goal (b)'s length (cancelled long before)")
    ap.add_argument("--python", default=sys.executable, help="Python with cyclonedds and PyYAML for the node")
    ap.add_argument("--json", type=Path, help="write the peer's reports and the checks here")
    a = ap.parse_args()

    exe = fastdds_peer()
    work = Path(tempfile.mkdtemp(prefix="skipper-ros2-"))
    port, domain = free_port(), random.Random(os.getpid()).randint(100, 200)
    base = f"http://127.0.0.1:{port}"
    server = node = None
    server_log, node_log = work / "server.log", work / "node.log"
    try:
        log(f"starting the server on {a.bundle} at {base}")
        server = subprocess.Popen([str(a.skipper), "serve", "--bundle", str(a.bundle), "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=server_log.open("w"))
        wait_http(base + "/health", server, 300)
        params = work / "params.yaml"
        params.write_text("skipper_node:\n  ros__parameters:\n"
                          f"    server_url: \"{base}\"\n    domain_id: {domain}\n    action_name: \"/skipper/generate\"\n"
                          "    request_timeout_s: 120.0\n")
        env = dict(os.environ, CYCLONEDDS_URI=(NODE_DIR / "cyclonedds-loopback.xml").as_uri(),
                   PYTHONPATH=str(NODE_DIR))
        log(f"starting the node (Cyclone DDS, domain {domain})")
        node = subprocess.Popen([a.python, "-m", "skipper_ros2", "--params-file", str(params)], env=env,
                                stdout=subprocess.DEVNULL, stderr=node_log.open("w"))
        deadline = time.monotonic() + 60
        while "skipper_node: ready" not in node_log.read_text():
            if node.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ros2 round trip: the node did not start:\n{node_log.read_text()}")
            time.sleep(0.1)
        expected = direct_completion(base, PROMPT, a.max_tokens)
        log("running the Fast DDS peer (goal, cancelled goal, malformed goal)")
        t0 = time.monotonic()
        r = subprocess.run([str(exe), str(domain), "/skipper/generate", PROMPT, str(a.max_tokens),
                            str(a.long_max_tokens)], capture_output=True, text=True, timeout=300)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            raise SystemExit(f"ros2 round trip: the peer failed ({r.returncode}); node log:\n{node_log.read_text()}")
        reports = {g["goal"]: g for g in map(json.loads, r.stdout.splitlines())}
        ga, gb, gc = reports["a"], reports["b"], reports["c"]
        checks = {
            "a succeeded": ga["status"] == 4,
            "a was accepted before it ran": ga["accepted"],
            "a's streamed feedback adds up to its result": ga["streamed"] == ga["text"] and ga["pieces"] > 0,
            "a's text is the server's own greedy answer": ga["text"] == expected,
            "a's token counts are reported": ga["completion_tokens"] > 0 and ga["prompt_tokens"] > 0,
            "b was cancelled": gb["status"] == 5 and gb["finish_reason"] == "cancelled",
            "b stopped early": 0 < gb["completion_tokens"] < a.long_max_tokens,
            "b's result holds the text streamed before the cancel": gb["text"] == gb["streamed"],
            "c was refused naming json_schema": gc["status"] == 6 and "json_schema" in gc["error"],
        }
        for name, ok in checks.items():
            log(f"{'ok  ' if ok else 'FAIL'} {name}")
        log(f"a: {ga['completion_tokens']} tokens, {ga['pieces']} feedback messages; b: cancelled after "
            f"{gb['completion_tokens']} of {a.long_max_tokens} tokens; peer ran {time.monotonic() - t0:.1f} s")
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps({"reports": reports, "checks": checks, "expected_a": expected}, indent=2))
        if not all(checks.values()):
            log(f"node log:\n{node_log.read_text()}")
            return 1
        return 0
    finally:
        stop(node)
        stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
