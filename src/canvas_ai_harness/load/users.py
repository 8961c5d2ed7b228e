"""The simulated users: students chatting with the AI experience, and teachers reviewing them.

Imported only by locust processes. Both are ``FastHttpUser``s (geventhttpclient) for throughput,
each acting as one identity at a time, taken when it starts and given back when it stops.

A **student** opens the chat as Canvas's UI does (``GET .../conversations``; ``POST`` when there is
none, or sometimes to restart), takes a few turns (a geometric number, mean ``--turns-mean``),
thinking before each in proportion to what it reads and types, then usually ends the
conversation (``DELETE``) and sometimes just leaves it open. A **teacher** reviews conversations
the run's students opened (``GET .../conversations/:id``) and keeps a preview conversation of
its own. Every response is classified (``outcomes.py``), a sample is checked against the contract
(``checks.py``; an answer the cheap screen suspects of the AI service's id is checked too), and
every conversation a user opens is noted so clean-up can end it.

The hot path is kept lean (``bench/load_generator.py`` compares it with a bare ``FastHttpUser``
sending the same requests): paths and headers are built once per user and conversation, a
message body is encoded once and an answer parsed at most once (``wire.py``), and each user re-arms
one request timer. The users of a process share one pool of kept-alive connections
(``connections.py``: a socket per request in flight, not per user).
"""

from __future__ import annotations

import random
import time
from typing import Any
from urllib.parse import urlencode

import gevent
from locust import task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.exception import StopUser

from canvas_ai_harness.canvas import answers, lifecycle
from canvas_ai_harness.load.behaviour import compose_message, draw_turns, think_seconds
from canvas_ai_harness.load.checks import may_hold_ai_id
from canvas_ai_harness.load.connections import shared_pool
from canvas_ai_harness.load.identities import Identity
from canvas_ai_harness.load.options import parsed_option
from canvas_ai_harness.load.outcomes import AI_UNAVAILABLE, CONTRACT, ERROR, OK, REDIRECT, THROTTLED, TIMEOUT
from canvas_ai_harness.load.outcomes import outcome as outcome_of
from canvas_ai_harness.load.runtime import Runtime, runtime
from canvas_ai_harness.load.wire import Reply, message_body

__all__ = ["StudentUser", "TeacherUser"]

_STARVED_PAUSE = 5.0  # seconds a user without an identity waits before asking again


class CanvasUser(FastHttpUser):
    """A user acting as one Canvas identity; ``call`` sends, times, classifies and samples."""

    abstract = True
    canvas_role = "student"
    insecure = False  # verify TLS: a staging Canvas has a real certificate
    connection_timeout = 10.0
    network_timeout = 60.0  # set from --request-timeout for each user
    max_redirects = 0  # never follow a redirect (``call`` also asks for none)

    def __init__(self, environment: Environment) -> None:
        # FastHttpUser hands network_timeout to its client here, so it is set before.
        self.request_timeout = float(parsed_option(environment, "request_timeout"))
        self.network_timeout = self.request_timeout
        if parsed_option(environment, "connections") == "shared":
            self.client_pool = shared_pool(self.connection_timeout, self.network_timeout, self.insecure)
        super().__init__(environment)

    def on_start(self) -> None:
        self.rt: Runtime = runtime(self.environment)
        self.rng = random.Random(self.rt.rng.random())
        self.identity: Identity | None = None
        if self.rt.host_refusal() or self.rt.refused:
            raise StopUser()  # never send a request to a host the run may not load
        while self.identity is None:
            self.identity = self.rt.acquire(self.canvas_role)
            if self.identity is None:
                gevent.sleep(_STARVED_PAUSE)
        self._headers = {"Authorization": self.identity.authorization, "Accept": "application/json"}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._query = f"?{urlencode(self.identity.params)}" if self.identity.params else ""
        world = self.rt.world
        assert world is not None, "identities come with the world: a user never runs without both"
        self.base = world.base_path
        self._conversations = self.base + self._query  # active and create
        # One timer per user, re-armed for each request: the whole request within --request-timeout.
        self._timer = gevent.Timeout(self.request_timeout)

    def on_stop(self) -> None:
        identity = getattr(self, "identity", None)
        if identity is not None:
            self.rt.release(identity)
            self.identity = None

    def conversation_paths(self, conversation: int) -> tuple[str, str]:
        """The paths of one conversation, its ``messages`` route second (query included), built once."""
        path = f"{self.base}/{conversation}"
        return path + self._query, f"{path}/messages{self._query}"

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            gevent.sleep(seconds)

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        message: str | None = None,
        previous: bytes | None = None,
    ) -> Reply:
        """Send one request named by its operationId; record and classify what came back.

        ``path`` carries the identity's query already (``conversation_paths``).
        """
        rt = self.rt
        while rt.stopping:
            gevent.sleep(0.5)  # the run is stopping: send nothing new (the user is stopped soon)
        body = None if message is None else message_body(message)
        headers = self._json_headers if body is not None else self._headers
        sent = time.perf_counter()
        waiting = rt.inflight.begin(time.time())
        # The whole request within --request-timeout (network_timeout bounds each read only);
        # locust turns the Timeout into the response's error.
        timer = self._timer
        timer.start()
        try:
            # bytes go to the socket as they are (locust's hint says str; geventhttpclient takes both)
            context = self.client.request(
                method, path, name=operation, data=body, headers=headers,  # type: ignore[arg-type]
                catch_response=True, allow_redirects=False,
            )  # fmt: skip
        except BaseException:  # the user was stopped while its request waited: counted, not lost
            timer.cancel()
            rt.inflight.end(waiting, time.time(), answered=False)
            millis = (time.perf_counter() - sent) * 1000.0
            rt.metrics.record(operation, millis, TIMEOUT, time.time())
            rt.metrics.record_error(f"{operation}: still waiting when the run ended ({millis / 1000:.1f} s)")
            raise
        timer.cancel()
        with context as response:
            status = response.status_code or 0
            timed_out = status == 0 and _timed_out(getattr(response, "error", None))
            rt.inflight.end(waiting, time.time(), answered=not timed_out)
            answer = response.content or b""
            lower = _lower(response.headers) if status == 403 else None
            kind = answers.classify(status, lower or {}, answer)
            outcome = outcome_of(operation, status, kind, timed_out=timed_out)
            problem = ""
            # A sample is checked in full; so is any answer the cheap screen (every answer) suspects.
            if outcome in (OK, AI_UNAVAILABLE) and (
                self.rng.random() < rt.sample_rate or may_hold_ai_id(operation, answer)
            ):
                problems = rt.checker.check(
                    operation,
                    status,
                    _lower(response.headers),
                    answer,
                    previous=previous,
                    sent=message,
                    redact=rt.redact,
                )
                rt.metrics.record_contract(problems)
                if problems:
                    outcome, problem = CONTRACT, problems[0]
            millis = float(response.request_meta["response_time"] or (time.perf_counter() - sent) * 1000.0)
            rt.metrics.record(operation, millis, outcome, time.time())
            if outcome == OK:
                response.success()
            else:
                response.failure(self._failure(operation, outcome, status, answer, problem, response))
        return Reply(status, answer, outcome, millis, kind)

    def _create(self, identity: Any) -> tuple[Reply, Any, int | None] | None:
        """Create a conversation and tell the ledger what Canvas did; ``None`` when Canvas gave no 201."""
        self.rt.ledger.creating(identity)
        reply = self.call("createConversation", "POST", self._conversations)
        data = reply.json() if 200 <= reply.status < 300 else None
        conversation = _conversation_id(data)
        self.rt.ledger.after_create(identity, reply.kind, conversation)
        if reply.status != 201:
            return None
        return reply, data, conversation

    def _failure(self, operation: str, outcome: str, status: int, body: bytes, problem: str, response: Any) -> str:
        if outcome == THROTTLED:
            return f"throttled: {status} Rate Limit Exceeded"
        if outcome == AI_UNAVAILABLE:
            return "AI service unavailable: 503"
        if outcome == CONTRACT:
            return f"contract: {self.rt.redact(problem)[:300]}"
        if outcome == TIMEOUT:
            text = f"timeout: no answer within {self.request_timeout:g} s (--request-timeout)"
            self.rt.metrics.record_error(f"{operation}: {text}")
            return text
        if outcome == REDIRECT:
            # Where it pointed is not followed, and not printed either (a URL may carry a token).
            text = f"redirect: HTTP {status}, not followed (an API route does not redirect)"
            self.rt.metrics.record_error(f"{operation}: {text}")
            return text
        if status == 0:
            error = getattr(response, "error", None)
            text = f"no response: {type(error).__name__ if error else 'connection failed'}"
        else:
            text = f"HTTP {status}"
        detail = self.rt.redact(body.decode("utf-8", "replace"))[:200]  # redact, then shorten
        self.rt.metrics.record_error(f"{operation}: {text} {detail}".strip())
        assert outcome == ERROR
        return text


def _timed_out(error: BaseException | None) -> bool:
    """Whether no answer came in time: our own timer, a read timeout, or one behind geventhttpclient's retries."""
    while error is not None:
        if isinstance(error, TimeoutError | gevent.Timeout):
            return True
        error = getattr(error, "original", None)
    return False


def _lower(headers: Any) -> dict[str, str]:
    if not headers:
        return {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _conversation_id(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    value = data.get("id")
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _transcript_length(data: Any) -> int:
    messages = data.get("messages") if isinstance(data, dict) else None
    return len(messages) if isinstance(messages, list) else 0


class StudentUser(CanvasUser):
    """A student having conversations with the AI experience (most users)."""

    weight = 10

    def wait_time(self) -> float:
        low, high = self.rt.behaviour.session_pause
        return self.rng.uniform(low, high) * self.rt.behaviour.think_scale

    @task
    def conversation(self) -> None:
        rt, identity, behaviour = self.rt, self.identity, self.rt.behaviour
        assert identity is not None
        opened = time.perf_counter()
        reply = self.call("getActiveConversation", "GET", self._conversations)
        if not reply.ok:
            return
        data = reply.json()
        conversation = _conversation_id(data)
        rt.ledger.active_is(identity, conversation)
        if conversation is None or self.rng.random() < behaviour.restart_rate:
            if conversation is not None:
                rt.metrics.conversations["restarted"] += 1
            created = self._create(identity)
            if created is None:
                return
            reply, data, conversation = created
            if conversation is None:
                rt.metrics.conversations["not_saved"] += 1  # the AI gave no id: Canvas did not save it
                return
            rt.metrics.conversations["started"] += 1
            rt.metrics.first_reply.record((time.perf_counter() - opened) * 1000.0)
            rt.note_conversation(conversation)
        else:
            rt.metrics.conversations["resumed"] += 1
        self._turns(conversation, reply.body, _transcript_length(data))

    def _turns(self, conversation: int, transcript: bytes, length: int) -> None:
        rt, identity, behaviour = self.rt, self.identity, self.rt.behaviour
        assert identity is not None
        path, messages = self.conversation_paths(conversation)
        done = max(0, (length - 2) // 2)
        read = len(transcript) if length <= 2 else 200
        for _ in range(draw_turns(self.rng, behaviour.turns_mean, behaviour.max_turns)):
            text = compose_message(self.rng)
            self.pause(think_seconds(self.rng, read, len(text), behaviour.think_scale))
            reply = self.call("postMessage", "POST", messages, message=text, previous=transcript)
            if lifecycle.says_closed("postMessage", reply.status):
                rt.ledger.closed(identity, conversation)  # closed elsewhere (or evicted)
                return
            if reply.ok:
                done += 1
                rt.metrics.record_turn(done, reply.millis)
                read = max(0, len(reply.body) - len(transcript) - len(text.encode()))
                transcript = reply.body
        if self.rng.random() < behaviour.leave_rate:
            rt.metrics.conversations["left_open"] += 1
            return
        reply = self.call("deleteConversation", "DELETE", path)
        if reply.ok or lifecycle.says_closed("deleteConversation", reply.status):
            rt.ledger.closed(identity, conversation)
        if reply.ok:
            rt.metrics.conversations["completed"] += 1


class TeacherUser(CanvasUser):
    """A teacher: reviews the run's student conversations and keeps a preview conversation."""

    canvas_role = "teacher"
    fixed_count = 1  # set from --teachers when the run starts

    def wait_time(self) -> float:
        return self.rng.uniform(5.0, 20.0) * self.rt.behaviour.think_scale

    @task
    def act(self) -> None:
        if not self.rt.recent or self.rng.random() < self.rt.behaviour.preview_rate:
            self.preview()
        else:
            self.review()

    def review(self) -> None:
        conversation = self.rng.choice(self.rt.recent)
        reply = self.call("getConversation", "GET", self.conversation_paths(conversation)[0])
        if reply.ok:
            self.pause(think_seconds(self.rng, len(reply.body) // 4, 0, self.rt.behaviour.think_scale))

    def preview(self) -> None:
        rt, identity = self.rt, self.identity
        assert identity is not None
        reply = self.call("getActiveConversation", "GET", self._conversations)
        if not reply.ok:
            return
        conversation = _conversation_id(reply.json())
        rt.ledger.active_is(identity, conversation)
        transcript = reply.body
        if conversation is None:
            created = self._create(identity)
            if created is None:
                return
            reply, _, conversation = created
            if conversation is None:
                return
            transcript = reply.body
        text = compose_message(self.rng)
        self.pause(think_seconds(self.rng, 200, len(text), self.rt.behaviour.think_scale))
        reply = self.call(
            "postMessage", "POST", self.conversation_paths(conversation)[1], message=text, previous=transcript
        )
        if lifecycle.says_closed("postMessage", reply.status):
            rt.ledger.closed(identity, conversation)
