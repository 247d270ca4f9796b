"""The node's logic without DDS: parameters files, the server stream (against a fake server that
streams slowly), goal checks and the request it builds; the CDR form of the messages."""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skipper_ros2 import messages as m  # noqa: E402
from skipper_ros2.params import NodeParams, ParamsError, load  # noqa: E402
from skipper_ros2.server_client import ServerClient, ServerError  # noqa: E402


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(text)
    return p


def test_params_defaults_and_overrides(tmp_path: Path) -> None:
    assert load(None) == NodeParams()
    p = load(write(tmp_path, "skipper_node:\n  ros__parameters:\n    domain_id: 7\n    temperature: 1\n"
                             "    action_name: /arm/llm\n"))
    assert (p.domain_id, p.temperature, p.topic("goal")) == (7, 1.0, "rt/arm/llm/goal")
    shipped = load(Path(__file__).resolve().parents[1] / "params.yaml")
    assert shipped == NodeParams()


@pytest.mark.parametrize("body, message", [
    ("other_node:\n  ros__parameters: {}\n", "expected one top-level key 'skipper_node'"),
    ("skipper_node:\n  params: {}\n", "expected one key 'ros__parameters'"),
    ("skipper_node:\n  ros__parameters:\n    max_token: 5\n", "max_token: unknown parameter"),
    ("skipper_node:\n  ros__parameters:\n    max_tokens: '5'\n", "max_tokens: expected int, got '5'"),
    ("skipper_node:\n  ros__parameters:\n    domain_id: 300\n", "domain_id: 300 is outside [0, 232]"),
    ("skipper_node:\n  ros__parameters:\n    queue_size: true\n", "queue_size: expected int, got True"),
    ("skipper_node:\n  ros__parameters:\n    server_url: 'ftp://x'\n", "server_url: 'ftp://x' is not an http(s) URL"),
    ("skipper_node:\n  ros__parameters:\n    action_name: 'skipper'\n", "is not an absolute ROS name"),
    ("skipper_node:\n  ros__parameters:\n    request_timeout_s: 0\n", "request_timeout_s > 0"),
    ("skipper_node: [\n", "not valid YAML"),
])
def test_bad_params_are_refused_in_one_line(tmp_path: Path, body: str, message: str) -> None:
    f = write(tmp_path, body)
    with pytest.raises(ParamsError) as e:
        load(f)
    assert str(e.value).startswith(str(f) + ": ") and message in str(e.value) and "\n" not in str(e.value)


class FakeServer(http.server.ThreadingHTTPServer):
    """Streams ``pieces`` as chat chunks, ``delay_s`` apart; ``status`` != 200 answers an error."""

    def __init__(self, pieces: list[str], delay_s: float = 0.0, status: int = 200) -> None:
        self.pieces, self.delay_s, self.status = pieces, delay_s, status
        self.bodies: list[dict] = []
        self.sent = 0
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        srv: FakeServer = self.server  # type: ignore[assignment]
        srv.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        if srv.status != 200:
            body = json.dumps({"error": {"message": "max_tokens: must be at most 512\nsecond line"}}).encode()
            self.send_response(srv.status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for p in srv.pieces:
                self.wfile.write(f"data: {json.dumps({'choices': [{'delta': {'content': p}}]})}\n\n".encode())
                self.wfile.flush()
                srv.sent += 1
                time.sleep(srv.delay_s)
            last = {"choices": [{"delta": {}, "finish_reason": "stop"}],
                    "skipper": {"timings": {"decode_tokens_per_second": 42.5}}}
            usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": len(srv.pieces)}}
            self.wfile.write(f"data: {json.dumps(last)}\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        except OSError:
            pass  # the client went away (cancel)


def test_stream_collects_text_usage_and_timings() -> None:
    srv = FakeServer(["Go", " to", " the dock"])
    got: list[str] = []
    out = ServerClient(srv.url).stream({"messages": [{"role": "user", "content": "x"}]}, got.append, threading.Event())
    assert got == ["Go", " to", " the dock"] and out.text == "Go to the dock"
    assert (out.finish_reason, out.prompt_tokens, out.completion_tokens, out.tokens_per_second) == ("stop", 5, 3, 42.5)
    assert srv.bodies[0]["stream"] is True and srv.bodies[0]["stream_options"] == {"include_usage": True}
    srv.shutdown()


def test_cancel_breaks_off_the_stream_and_keeps_the_text_so_far() -> None:
    srv = FakeServer([f"t{i} " for i in range(200)], delay_s=0.02)
    client = ServerClient(srv.url)
    cancelled = threading.Event()
    got: list[str] = []

    def on_text(piece: str) -> None:
        got.append(piece)
        if len(got) == 3:
            cancelled.set()
            client.abort()

    t0 = time.monotonic()
    out = client.stream({"messages": [{"role": "user", "content": "x"}]}, on_text, cancelled)
    assert out.finish_reason == "cancelled" and out.text == "".join(got) and len(got) == 3
    assert time.monotonic() - t0 < 2.0, "cancel must not wait for the rest of the answer"
    time.sleep(0.2)
    assert srv.sent < 50, "the server saw the connection close"
    srv.shutdown()


def test_server_errors_are_one_line() -> None:
    srv = FakeServer([], status=400)
    with pytest.raises(ServerError) as e:
        ServerClient(srv.url).stream({"prompt": "x"}, lambda _: None, threading.Event())
    assert str(e.value) == "server answered 400: max_tokens: must be at most 512 second line"
    srv.shutdown()
    with pytest.raises(ServerError, match="cannot reach the Skipper server"):
        ServerClient(srv.url, timeout_s=2).stream({"prompt": "x"}, lambda _: None, threading.Event())


def goal(**kw: object) -> m.GenerateGoal:
    base = dict(goal_id=list(range(16)), prompt="go to the dock", system_prompt="", chat=True, max_tokens=0,
                temperature=-1.0, seed=0, json_schema="")
    return m.GenerateGoal(**{**base, **kw})


def test_goal_checks_and_request() -> None:
    from skipper_ros2.node import GenerationNode

    assert GenerationNode._check(goal()) is None
    assert GenerationNode._check(goal(prompt="")) == "prompt is empty"
    assert GenerationNode._check(goal(chat=False, system_prompt="be brief")) == "system_prompt needs chat = true"
    assert GenerationNode._check(goal(json_schema="[1]")) == "json_schema must be a JSON object"
    assert GenerationNode._check(goal(json_schema="{")).startswith("json_schema is not valid JSON")
    assert GenerationNode._check(goal(json_schema="[" * 100_000)) == "json_schema is nested too deeply"
    node = GenerationNode.__new__(GenerationNode)  # the request builder needs only the parameters
    node.params = NodeParams(max_tokens=99, temperature=0.0)
    schema = {"type": "object", "properties": {"action": {"enum": ["go"]}}}
    body = node._request(goal(system_prompt="be brief", json_schema=json.dumps(schema), seed=3))
    assert body == {"max_tokens": 99, "temperature": 0.0, "seed": 3,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "goal", "schema": schema}},
                    "messages": [{"role": "system", "content": "be brief"},
                                 {"role": "user", "content": "go to the dock"}]}
    assert node._request(goal(chat=False, max_tokens=5, temperature=0.7)) == {
        "max_tokens": 5, "temperature": pytest.approx(0.7), "prompt": "go to the dock"}


def test_messages_are_plain_cdr_in_field_order() -> None:
    fb = m.GenerateFeedback(goal_id=list(range(16)), status=m.STATUS_EXECUTING, text="hi", tokens=7)
    raw = fb.serialize()
    # XCDR1 little-endian header, 16 id bytes, int8, pad to 4, string (length with NUL), pad, uint32
    assert raw == bytes([0, 1, 0, 0]) + bytes(range(16)) + b"\x02\x00\x00\x00" + b"\x03\x00\x00\x00hi\x00" \
        + b"\x00" + b"\x07\x00\x00\x00"
    back = m.GenerateFeedback.deserialize(raw)
    assert (bytes(back.goal_id), back.status, back.text, back.tokens) == (bytes(range(16)), 2, "hi", 7)
    assert m.GenerateGoal.__idl_typename__ == "skipper_msgs::msg::dds_::GenerateGoal_"
    assert m.goal_key(bytes(range(16))) == "00010203-0405-0607-0809-0a0b0c0d0e0f"
