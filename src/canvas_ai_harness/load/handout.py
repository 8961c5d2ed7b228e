"""Identities across locust processes: one process holds the pool and hands each identity out once.

``local`` and ``master`` take from the ``IdentityPool``; a ``worker`` asks the master with a custom
message, and the answer carries the conversation path (``World``) too, so a worker on another
machine needs nothing but the locustfile. ``Handout`` is a part of ``Runtime`` (``runtime.py``).
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
import gevent.event
from locust.env import Environment

from canvas_ai_harness.errors import HarnessError
from canvas_ai_harness.load.identities import Identity
from canvas_ai_harness.load.state import RuntimeState, World

__all__ = ["IDENTITIES_ASK", "IDENTITIES_GIVE", "Handout"]

log = logging.getLogger("canvas_ai_harness.load")
IDENTITIES_ASK, IDENTITIES_GIVE = "canvas_ai_identities?", "canvas_ai_identities"


class Handout(RuntimeState):
    """Identities for this process's users, from the pool or from the master."""

    def acquire(self, role: str) -> Identity | None:
        """An identity for a user of this process, or ``None`` when none is left (the user waits)."""
        identity = self.seats.take(role)
        if identity is not None:
            return identity
        self._waiting[role] += 1
        try:
            with self._locks[role]:
                identity = self.seats.take(role)
                if identity is not None:
                    return identity
                wanted = max(1, self._waiting[role])
                self.seats.add(self._fetch(role, wanted))
                identity = self.seats.take(role)
        finally:
            self._waiting[role] -= 1
        if identity is None:
            self.metrics.counters["identity_starved"] += 1
        return identity

    def release(self, identity: Identity) -> None:
        self.seats.give_back(identity)

    def _fetch(self, role: str, count: int) -> list[Identity]:
        if self.role != "worker":
            return self._take_from_pool(role, count)
        ask = next(self._ids)
        answer = self._answers[ask] = gevent.event.AsyncResult()
        runner = self.env.runner
        assert runner is not None
        runner.send_message(IDENTITIES_ASK, {"ask": ask, "role": role, "count": count})
        try:
            data = answer.get(timeout=30)
        except gevent.Timeout:
            log.error("the master did not answer a request for identities within 30 s")
            return []
        finally:
            self._answers.pop(ask, None)
        if data.get("world"):
            self.world = World(**data["world"])
        return [Identity.from_wire(w) for w in data.get("identities", [])]

    def _take_from_pool(self, role: str, count: int) -> list[Identity]:
        if self.pool is None or self.refused:
            return []
        with self._pool_lock:
            try:
                return self.pool.take(role, count)
            except HarnessError as exc:
                log.error("cannot get identities: %s", exc)
                return []

    def _on_identities_ask(self, environment: Environment, msg: Any, **_kwargs: Any) -> None:
        data = msg.data
        identities = self._take_from_pool(data["role"], int(data["count"]))
        world = None if self.world is None else {"base_path": self.world.base_path, "profile": self.world.profile}
        reply = {"ask": data["ask"], "identities": [i.to_wire() for i in identities], "world": world}
        assert environment.runner is not None
        environment.runner.send_message(IDENTITIES_GIVE, reply, client_id=msg.node_id)

    def _on_identities_give(self, environment: Environment, msg: Any, **_kwargs: Any) -> None:
        answer = self._answers.get(msg.data["ask"])
        if answer is not None:
            answer.set(msg.data)
