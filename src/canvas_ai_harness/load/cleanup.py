"""Clean-up: end every conversation this process's users opened and may have left open.

At a run's end, and on Ctrl-C, SIGTERM or a failed threshold. Each process ends its own (only it
knows them: identities never move between processes), backing off when Canvas throttles;
conversations a student had before the run are left alone. ``CleanUp`` is a part of ``Runtime``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from urllib.parse import urlencode

import gevent
import gevent.pool
from geventhttpclient import HTTPClient

from canvas_ai_harness.canvas.lifecycle import says_closed
from canvas_ai_harness.load.ledger import OpenConversation
from canvas_ai_harness.load.options import parsed_option as _opt
from canvas_ai_harness.load.outcomes import is_throttled
from canvas_ai_harness.load.state import RuntimeState

__all__ = ["CleanUp"]

log = logging.getLogger("canvas_ai_harness.load")


class CleanUp(RuntimeState):
    """Ending the run's conversations (``cleanup``)."""

    def cleanup(self) -> None:
        """End every conversation this process's users opened and may have left open."""
        if self.cleaned or self.world is None:
            return
        self.cleaned = True
        todo = self.ledger.to_close()
        if not todo:
            return
        deadline = time.monotonic() + float(_opt(self.env, "cleanup_timeout"))
        network = min(30.0, float(_opt(self.env, "request_timeout")))
        client = HTTPClient.from_url(self.host, concurrency=20, connection_timeout=10, network_timeout=network)
        group = gevent.pool.Group()  # the client allows 20 requests at once
        try:
            for entry in todo:
                group.spawn(self._close, client, entry)
            # Polled rather than one timeout: a second Ctrl-C (``hurry``) cuts clean-up short.
            while not group.join(timeout=0.1) and not self.hurry and time.monotonic() < deadline:
                pass
        finally:
            group.kill(block=False)
            client.close()
        left = len(self.ledger.to_close())
        self.metrics.counters["cleanup_failed"] += left
        if self.hurry and left:
            self.metrics.counters["cleanup_cut_short"] += 1
        if left:
            log.error("clean-up could not end %d conversations%s", left, " (cut short)" if self.hurry else "")

    def _close(self, client: HTTPClient, entry: OpenConversation) -> None:
        assert self.world is not None
        identity = entry.identity
        query = f"?{urlencode(identity.params)}" if identity.params else ""
        headers = {"Authorization": identity.authorization, "Accept": "application/json"}

        def call(method: str, path: str) -> tuple[int, bytes, dict[str, str]]:
            for attempt in range(6):
                try:
                    response = client.request(method, path + query, headers=headers)
                    body = response.read()
                    lower = {k.lower(): v for k, v in response.items()}
                except Exception as exc:
                    log.warning("clean-up %s failed: %s", method, type(exc).__name__)
                    return 0, b"", {}
                if not is_throttled(response.status_code, body, lower):
                    return response.status_code, body, lower
                gevent.sleep(min(0.5 * 2**attempt, 8))  # Canvas throttles clean-up too: back off
            return 429, b"", {}

        if entry.uncertain:  # a create broke off: ask Canvas which conversation it left active
            status, body, _ = call("GET", self.world.base_path)
            if status == 200:
                entry.uncertain = False
                found = _conversation_id(body)
                if found is not None and found != entry.conversation:
                    self._end(call, found)
        if entry.conversation is not None and self._end(call, entry.conversation):
            entry.conversation = None

    def _end(self, call: Callable[[str, str], tuple[int, bytes, dict[str, str]]], conversation: int) -> bool:
        """DELETE one conversation; ``True`` once it is closed (now, or already)."""
        assert self.world is not None
        status, _, _ = call("DELETE", f"{self.world.base_path}/{conversation}")
        if status == 200:
            self.metrics.counters["cleanup_closed"] += 1
        elif says_closed("deleteConversation", status):
            self.metrics.counters["cleanup_gone"] += 1
        return status == 200 or says_closed("deleteConversation", status)


def _conversation_id(body: bytes) -> int | None:
    try:
        value = json.loads(body).get("id")
        return None if value is None else int(value)
    except (ValueError, TypeError, AttributeError):
        return None
