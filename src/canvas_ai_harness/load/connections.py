"""The kept-alive connections of one locust process: one pool that all its simulated users share.

Imported only by locust processes (``users.py``). A user's requests go one at a time, and a
student spends most of its time thinking; with a pool per user (locust's default) each of
them held a socket for nothing. Here the users of a process share one pool: a socket per
request in flight (the most recently used one first), so tens of thousands of students fit in
the process's open-file limit, and the sockets in use are reused within seconds, long before the
target's keep-alive runs out (only those left idle past it, after a burst, are opened anew). Each
user keeps its own identity, headers and cookies (``FastHttpSession``); only sockets are shared,
and a socket goes back to the pool only after a whole answer was read (geventhttpclient closes
one whose answer was cut short, by a timeout or a stopped user).

``geventhttpclient`` checks that a pooled socket is still open with ``select()`` before reusing
it. ``select()`` refuses descriptors past 1023, and geventhttpclient takes the refusal as "closed":
in a process with more than a thousand sockets, most were thrown away and reconnected on every
request (the connect() churn seen above 10,000 students), and the check also yielded to the hub
each time. ``_still_open`` asks the same question with the real ``poll()``, which has no such
limit and does not yield.
"""

from __future__ import annotations

import os
import select
from typing import Any

import gevent.monkey
import gevent.ssl
from geventhttpclient.client import HTTPClientPool
from geventhttpclient.connectionpool import ConnectionPool
from locust.contrib.fasthttp import insecure_ssl_context_factory

__all__ = ["shared_pool"]

# Sockets the shared pool may open: never the limit (a request must not wait for a socket, or
# its wait would count as the target's latency); the open-file limit is.
_POOL_SOCKETS = 1_000_000
_POOLS: dict[tuple[int, float, float, bool], HTTPClientPool] = {}
_poll = gevent.monkey.get_original("select", "poll")  # the system call, not gevent's cooperative one
_READABLE = select.POLLIN | select.POLLPRI


def shared_pool(connection_timeout: float, network_timeout: float, insecure: bool) -> HTTPClientPool:
    """This process's pool of kept-alive connections for users with these settings (one per process)."""
    key = (os.getpid(), connection_timeout, network_timeout, insecure)  # a forked worker builds its own
    pool = _POOLS.get(key)
    if pool is None:
        # What FastHttpSession would give each user's own pool, for every user at once.
        pool = _POOLS[key] = HTTPClientPool(
            concurrency=_POOL_SOCKETS,
            connection_timeout=connection_timeout,
            network_timeout=network_timeout,
            ssl_context_factory=insecure_ssl_context_factory if insecure else gevent.ssl.create_default_context,
            **({"insecure": True} if insecure else {}),
        )
    return pool


def _still_open(self: ConnectionPool, sock: Any) -> bool:
    """Whether an idle pooled socket may be reused: open, and nothing to read (no FIN, no stray bytes)."""
    if sock is None:
        return False
    try:
        fileno = sock.fileno()
        if fileno < 0:
            return False
        poller = _poll()
        poller.register(fileno, _READABLE)
        return not poller.poll(0)  # readable, hung up or failed while idle: not reusable
    except (OSError, ValueError):
        return False


ConnectionPool._is_socket_alive = _still_open  # type: ignore[method-assign]
