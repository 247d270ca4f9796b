"""Streams one generation from Skipper's OpenAI-compatible server (server-sent events).

Cancelling closes the connection: the server notices the closed stream at its next token and stops
generating (the session is free for the next goal at once).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable

MAX_EVENT_BYTES = 1 << 20  # one server-sent event line; the server's chunks are far smaller


class ServerError(RuntimeError):
    """The server refused or broke off a request; the message is one line."""


@dataclass
class Outcome:
    """How a streamed generation ended."""

    text: str
    finish_reason: str  # stop | length | cancelled | error
    prompt_tokens: int
    completion_tokens: int
    tokens_per_second: float


def _one_line(s: str, limit: int = 300) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


class ServerClient:
    """One HTTP connection per goal to ``server_url``."""

    def __init__(self, server_url: str, api_key: str = "", timeout_s: float = 120.0) -> None:
        url = urllib.parse.urlsplit(server_url)
        self._https = url.scheme == "https"
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or (443 if self._https else 80)
        self._base = url.path.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None  # the stream in flight; guarded by _lock

    def abort(self) -> None:
        """Breaks off the stream in flight now, also while the server is still reading the prompt
        (call after setting the stream's ``cancelled`` event)."""
        with self._lock:
            sock = self._conn.sock if self._conn is not None else None
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stream(self, body: dict, on_text: Callable[[str], None], cancelled: threading.Event) -> Outcome:
        """POSTs ``body`` (a chat or completion request, ``stream`` is set here) and calls ``on_text``
        with each piece of text; returns when the answer is done or ``cancelled`` is set."""
        chat = "messages" in body
        body = dict(body, stream=True, stream_options={"include_usage": True})
        path = self._base + ("/v1/chat/completions" if chat else "/v1/completions")
        conn_type = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = conn_type(self._host, self._port, timeout=self._timeout_s)
        with self._lock:
            self._conn = conn
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = "Bearer " + self._api_key
        parts: list[str] = []
        finish, usage, decode_tps = "error", {}, 0.0
        deadline = time.monotonic() + self._timeout_s
        try:
            if cancelled.is_set():  # cancelled before the connection existed: abort() had nothing to break
                return Outcome("", "cancelled", 0, 0, 0.0)
            try:
                conn.request("POST", path, body=json.dumps(body).encode("utf-8"), headers=headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                if cancelled.is_set():
                    return Outcome("", "cancelled", 0, 0, 0.0)
                raise ServerError(f"cannot reach the Skipper server at {self._host}:{self._port}: {e}") from None
            if resp.status != 200:
                raw = resp.read(65536).decode("utf-8", "replace")
                try:
                    msg = json.loads(raw)["error"]["message"]
                except (ValueError, KeyError, TypeError):
                    msg = raw
                raise ServerError(f"server answered {resp.status}: {_one_line(str(msg))}")
            while True:
                if cancelled.is_set():
                    finish = "cancelled"
                    break
                if time.monotonic() > deadline:
                    raise ServerError(f"no complete answer within request_timeout_s ({self._timeout_s:g} s)")
                try:
                    line = resp.readline(MAX_EVENT_BYTES + 1)
                except (OSError, http.client.HTTPException) as e:
                    if cancelled.is_set():
                        continue
                    raise ServerError(f"the server broke off the answer: {e}") from None
                if not line:
                    if cancelled.is_set():
                        continue
                    raise ServerError("the server closed the stream before [DONE]")
                if len(line) > MAX_EVENT_BYTES:
                    raise ServerError(f"a server-sent event over {MAX_EVENT_BYTES} bytes")
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue  # blank separators, comments
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    raise ServerError(f"the server sent an event that is not JSON: {_one_line(data.decode('utf-8', 'replace'))}") from None
                if "error" in event:
                    raise ServerError(f"the server failed: {_one_line(str(event['error'].get('message', event['error'])))}")
                for choice in event.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                    if piece:
                        parts.append(piece)
                        on_text(piece)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                if "skipper" in event:
                    decode_tps = float(event["skipper"].get("timings", {}).get("decode_tokens_per_second") or 0.0)
                if event.get("usage"):
                    usage = event["usage"]
        finally:
            with self._lock:
                self._conn = None
            conn.close()  # on cancel, this is what stops the generation
        return Outcome(text="".join(parts), finish_reason=finish, prompt_tokens=int(usage.get("prompt_tokens", 0)),
                       completion_tokens=int(usage.get("completion_tokens", len(parts))),
                       tokens_per_second=decode_tps)
