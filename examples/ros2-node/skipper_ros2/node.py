"""The generation node: goals in, streamed feedback and a result out, cancellable.

Shaped like a ROS 2 action (llama_ros's GenerateResponse is the pattern) but carried on four plain
topics, because topics are what every RMW pair interoperates on:

    <action>/goal      GenerateGoal      client -> node
    <action>/cancel    GenerateCancel    client -> node
    <action>/feedback  GenerateFeedback  node -> client (ACCEPTED, then the streamed text)
    <action>/result    GenerateResult    node -> client (SUCCEEDED, CANCELED or ABORTED)

Goals run one at a time in arrival order (the model is one session); up to ``queue_size`` wait.
All topics are reliable with history depth ``qos_depth``; the result topic is also transient-local
so a client that subscribes late still gets the last results.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from dataclasses import dataclass, field

from cyclonedds.core import Listener, Qos, Policy
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter, Publisher
from cyclonedds.sub import DataReader, Subscriber
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from . import messages as m
from .params import NodeParams
from .server_client import ServerClient, ServerError

LOG = logging.getLogger("skipper_node")
MAX_TEXT_BYTES = 1 << 20  # a prompt, system prompt or schema larger than this is refused


@dataclass
class _Goal:
    msg: m.GenerateGoal
    key: str
    cancelled: threading.Event = field(default_factory=threading.Event)


def _qos(depth: int, transient: bool = False, reader: bool = False) -> Qos:
    policies = [Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepLast(depth),
                Policy.Durability.TransientLocal if transient else Policy.Durability.Volatile,
                # ROS 2 speaks plain CDR (XCDR1); readers take either form
                Policy.DataRepresentation(use_cdrv0_representation=True, use_xcdrv2_representation=reader)]
    return Qos(*policies)


class GenerationNode:
    """Owns the DDS entities and one worker thread; ``close`` (or ``with``) releases both."""

    def __init__(self, params: NodeParams, api_key: str = "") -> None:
        self.params = params
        self._client = ServerClient(params.server_url, api_key, params.request_timeout_s)
        self._lock = threading.Condition()
        self._queue: collections.deque[_Goal] = collections.deque()  # guarded by _lock
        self._running: _Goal | None = None                             # guarded by _lock
        self._closed = False                                            # guarded by _lock
        self.participant = DomainParticipant(params.domain_id)
        pub, sub = Publisher(self.participant), Subscriber(self.participant)
        d = params.qos_depth

        def topic(leaf: str, kind: type) -> Topic:
            return Topic(self.participant, params.topic(leaf), kind)

        self._feedback = DataWriter(pub, topic("feedback", m.GenerateFeedback), qos=_qos(d))
        self._result = DataWriter(pub, topic("result", m.GenerateResult), qos=_qos(d, transient=True))
        self._goals = DataReader(sub, topic("goal", m.GenerateGoal), qos=_qos(d, reader=True),
                                 listener=Listener(on_data_available=self._on_goals))
        self._cancels = DataReader(sub, topic("cancel", m.GenerateCancel), qos=_qos(d, reader=True),
                                   listener=Listener(on_data_available=self._on_cancels))
        self._worker = threading.Thread(target=self._work, name="skipper-node-worker", daemon=True)
        self._worker.start()
        LOG.info("serving %s on domain %d (server %s)", params.action_name, params.domain_id, params.server_url)

    # --- DDS callbacks (Cyclone's listener thread: no blocking work here) ---

    def _take(self, reader: DataReader, kind: type) -> list:
        """The reader's new samples, one at a time: a sample that does not decode (a string that is
        not UTF-8) is dropped with a warning instead of taking the rest of the batch with it."""
        out = []
        for _ in range(256):  # at most this many per callback; the listener fires again for more
            try:
                got = reader.take(N=1)
            except Exception as e:  # noqa: BLE001 - undecodable wire data from an untrusted peer
                LOG.warning("dropped a sample on %s that does not decode: %s", reader.topic.get_name(), e)
                continue
            if not got:
                break
            out.extend(x for x in got if isinstance(x, kind))  # skip invalid samples (instance state changes)
        return out

    def _on_goals(self, reader: DataReader) -> None:
        for goal in self._take(reader, m.GenerateGoal):
            key = m.goal_key(goal.goal_id)
            problem = self._check(goal)
            entry = None
            with self._lock:
                if self._closed:
                    problem = "the node is shutting down"
                elif problem is None and len(self._queue) >= self.params.queue_size + (self._running is None):
                    problem = f"the node's queue is full ({self.params.queue_size} goals wait)"
                if problem is None:
                    entry = _Goal(goal, key)
                    # ACCEPTED goes out before the worker can see the goal, so it precedes its feedback
                    self._feedback.write(m.GenerateFeedback(goal.goal_id, m.STATUS_ACCEPTED, "", 0))
                    self._queue.append(entry)
                    self._lock.notify_all()
            if problem is not None:
                LOG.warning("goal %s refused: %s", key, problem)
                self._publish_result(goal.goal_id, m.STATUS_ABORTED, "", "error", error=problem)
            else:
                LOG.info("goal %s accepted", key)

    def _on_cancels(self, reader: DataReader) -> None:
        for cancel in self._take(reader, m.GenerateCancel):
            key = m.goal_key(cancel.goal_id)
            queued = None
            with self._lock:
                if self._running is not None and self._running.key == key:
                    self._running.cancelled.set()
                    self._client.abort()
                    LOG.info("goal %s: cancelling", key)
                    continue
                for g in self._queue:
                    if g.key == key:
                        queued = g
                        break
                if queued is not None:
                    self._queue.remove(queued)
            if queued is not None:
                LOG.info("goal %s cancelled before it ran", key)
                self._publish_result(queued.msg.goal_id, m.STATUS_CANCELED, "", "cancelled")

    @staticmethod
    def _check(goal: m.GenerateGoal) -> str | None:
        for name in ("prompt", "system_prompt", "json_schema"):
            if len(getattr(goal, name).encode("utf-8")) > MAX_TEXT_BYTES:
                return f"{name} is longer than {MAX_TEXT_BYTES} bytes"
        if not goal.prompt:
            return "prompt is empty"
        if goal.system_prompt and not goal.chat:
            return "system_prompt needs chat = true"
        if goal.json_schema:
            try:
                if not isinstance(json.loads(goal.json_schema), dict):
                    return "json_schema must be a JSON object"
            except ValueError as e:
                return f"json_schema is not valid JSON: {e}"
            except RecursionError:
                return "json_schema is nested too deeply"
        return None

    # --- the worker ---

    def _request(self, goal: m.GenerateGoal) -> dict:
        p = self.params
        body: dict = {
            "max_tokens": goal.max_tokens if goal.max_tokens > 0 else p.max_tokens,
            "temperature": goal.temperature if goal.temperature >= 0 else p.temperature,
        }
        if goal.seed:
            body["seed"] = goal.seed
        if goal.json_schema:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "goal", "schema": json.loads(goal.json_schema)}}
        if goal.chat:
            msgs = [{"role": "system", "content": goal.system_prompt}] if goal.system_prompt else []
            body["messages"] = msgs + [{"role": "user", "content": goal.prompt}]
        else:
            body["prompt"] = goal.prompt
        return body

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                goal = self._running = self._queue.popleft()
            try:
                self._run(goal)
            except Exception:  # noqa: BLE001 - the node keeps serving; the client hears why
                LOG.exception("goal %s failed", goal.key)
                try:
                    self._publish_result(goal.msg.goal_id, m.STATUS_ABORTED, "", "error",
                                         error="internal error in the node")
                except Exception:  # noqa: BLE001 - DDS itself failing: keep the worker alive
                    LOG.exception("goal %s: could not publish its result", goal.key)
            finally:
                with self._lock:
                    self._running = None

    def _run(self, goal: _Goal) -> None:
        tokens = 0

        def on_text(piece: str) -> None:
            nonlocal tokens
            tokens += 1
            self._feedback.write(m.GenerateFeedback(goal.msg.goal_id, m.STATUS_EXECUTING, piece, tokens))

        t0 = time.monotonic()
        try:
            out = self._client.stream(self._request(goal.msg), on_text, goal.cancelled)
        except ServerError as e:
            LOG.warning("goal %s aborted: %s", goal.key, e)
            self._publish_result(goal.msg.goal_id, m.STATUS_ABORTED, "", "error", error=str(e))
            return
        status = m.STATUS_CANCELED if goal.cancelled.is_set() or out.finish_reason == "cancelled" else m.STATUS_SUCCEEDED
        LOG.info("goal %s %s: %d tokens in %.2f s (%s)", goal.key, "cancelled" if status == m.STATUS_CANCELED
                 else "done", out.completion_tokens or tokens, time.monotonic() - t0, out.finish_reason)
        self._publish_result(goal.msg.goal_id, status, out.text,
                             "cancelled" if status == m.STATUS_CANCELED else out.finish_reason,
                             out.prompt_tokens, out.completion_tokens or tokens, out.tokens_per_second)

    def _publish_result(self, goal_id, status: int, text: str, finish: str, prompt_tokens: int = 0,
                        completion_tokens: int = 0, tps: float = 0.0, error: str = "") -> None:
        self._result.write(m.GenerateResult(goal_id, status, text, finish, prompt_tokens, completion_tokens,
                                            float(tps), error))

    def close(self) -> None:
        """Stops taking goals, cancels the running one, aborts the queued ones, stops the worker
        and deletes the DDS entities."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            queued = list(self._queue)
            self._queue.clear()
            if self._running is not None:
                self._running.cancelled.set()
                self._client.abort()
            self._lock.notify_all()
        self._goals.set_listener(None)
        self._cancels.set_listener(None)
        for g in queued:
            self._publish_result(g.msg.goal_id, m.STATUS_ABORTED, "", "error", error="the node shut down")
        self._worker.join(timeout=10)
        # The participant owns every entity; dropping the last references deletes them.
        self._goals = self._cancels = self._feedback = self._result = None
        self.participant = None

    def __enter__(self) -> "GenerationNode":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
