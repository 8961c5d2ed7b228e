"""The mock's and the proxy's resource budgets, each default written once (the CLI, ``MockConfig`` and
``ProxyConfig`` read them here).

Bytes the mock stores: a request body (``MOCK_BODY_BYTES``, 413; in profile ``completed`` Canvas
takes a message of any length, so this is the mock's own cap on one), one transcript
(``TRANSCRIPT_BYTES``, 413), every stored conversation together (``STORED_BYTES``, eviction,
completed conversations first) and the students its control route may add (``STUDENTS``). The
proxy holds at most ``PROXY_BODY_BYTES`` of one request body (more: its own 413, nothing
forwarded); it is above the mock's, so that a Canvas's own 413 reaches the client.

What one client may make a server hold: bounded request heads, a deadline to arrive, few idle connections.

uvicorn's httptools protocol keeps every header a client sends (no size limit: one connection
flooding headers took the mock from 44 MB to 558 MB), and its only timer is the keep-alive one,
armed after a response: a connection that never completes a request is held for ever (a request
announcing 10 bytes and sending none was held for more than 90 s; 20,000 such connections used
up the descriptors). ``serving.bounded_protocol(limits)`` is uvicorn's protocol with three budgets:

- the request line and headers together are at most ``max_header_bytes``: past it the client gets
  ``431 Request Header Fields Too Large`` and the connection is closed;
- a request's line, headers and body must arrive within ``read_timeout_s`` of its first byte (or
  of the connection, for the first request): past it the client gets ``408 Request Timeout``
  (when no answer has started) and the connection is closed;
- at most ``max_idle_connections`` connections are idle or still sending a request; a new
  connection past it closes the one that has waited longest. Connections whose request is being
  answered do not count. By default the proxy's is half the open-file limit, at most 1,000; the
  mock, which a load rehearsal fills with tens of thousands of students who keep their
  connections while they think, first raises its open-file limit (``raise_open_file_limit``)
  and takes all of it but a reserve (``default_idle_connections(None)``);
- an idle keep-alive connection is closed ``keep_alive_s`` after its last answer (uvicorn's
  ``timeout_keep_alive``).

This module imports nothing from outside the standard library: the ``responses`` fake loads ``MockConfig``,
the CLI's ``--help`` shows these defaults.
"""

from __future__ import annotations

import contextlib
import resource
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_HEADER_BYTES",
    "DEFAULT_READ_TIMEOUT_S",
    "KEEP_ALIVE_S",
    "MOCK_BODY_BYTES",
    "MOCK_OPEN_FILES",
    "PROXY_BODY_BYTES",
    "STORED_BYTES",
    "STUDENTS",
    "TRANSCRIPT_BYTES",
    "ConnectionLimits",
    "default_idle_connections",
    "raise_open_file_limit",
]

MIB = 2**20
MOCK_BODY_BYTES = 1 * MIB
TRANSCRIPT_BYTES = 4 * MIB
STORED_BYTES = 64 * MIB  # with the per-message overheads, about 40,000 ten-message conversations
STUDENTS = 100_000  # about 470 bytes each
PROXY_BODY_BYTES = 8 * MIB

# nginx's default (large_client_header_buffers 4 8k): a Canvas request with a long token and
# cookies stays far below it.
DEFAULT_HEADER_BYTES = 32_768
DEFAULT_READ_TIMEOUT_S = 15.0
# How long an idle keep-alive connection stays open between requests. Above a student's think
# time (a load run's default pause is seconds; a reader takes a minute), so that 25,000 students
# keep their connections rather than reconnecting each turn (uvicorn's 5 s, and the 30 s before,
# made locust open one connection per request); the same as nginx's keepalive_timeout 75 s.
KEEP_ALIVE_S = 75.0
IDLE_CEILING = 1_000
# The open-file limit the mock asks for at start: half of it idle is room for 50,000 students
# thinking between turns (a load rehearsal's 25,000, twice over).
MOCK_OPEN_FILES = 131_072
IDLE_RESERVE = 1_024  # descriptors the mock keeps from idle connections, at the least
_NR_OPEN = Path("/proc/sys/fs/nr_open")


def default_idle_connections(ceiling: int | None = IDLE_CEILING) -> int:
    """How many connections may be idle by default, from the process's open-file limit.

    With a ``ceiling`` (the proxy's): half the limit, at most ``ceiling``. Without (the mock's,
    whose load rehearsals keep a connection per thinking student): the limit less a reserve of
    an eighth (at least ``IDLE_RESERVE``), never less than half. What is not idle stays for
    requests being answered, files and the listening socket.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        soft = MOCK_OPEN_FILES
    if ceiling is not None:
        return max(1, min(ceiling, soft // 2))
    return max(1, soft // 2, soft - max(IDLE_RESERVE, soft // 8))


def raise_open_file_limit(wanted: int = MOCK_OPEN_FILES) -> int:
    """Raise this process's open-file limit toward ``wanted``; return the soft limit now in force.

    The soft limit goes up to the hard one; a process allowed to (root) raises the hard limit
    too, up to the kernel's ``fs.nr_open``. Never lowers a limit; one it may not raise stays.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinity = resource.RLIM_INFINITY
    if soft == infinity or soft >= wanted:
        return soft
    if hard != infinity and hard < wanted:
        ceiling = wanted
        with contextlib.suppress(OSError, ValueError):
            ceiling = min(wanted, int(_NR_OPEN.read_text().split()[0]))
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, max(hard, ceiling)))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    target = wanted if hard == infinity else min(wanted, hard)
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(slots=True, frozen=True)
class ConnectionLimits:
    """Per-connection budgets of a server.

    ``max_idle_connections=None`` is ``default_idle_connections(idle_ceiling)``: half the
    open-file limit, at most ``idle_ceiling`` (``None``: no ceiling, the mock's).
    """

    max_header_bytes: int = DEFAULT_HEADER_BYTES
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    max_idle_connections: int | None = None
    keep_alive_s: float = KEEP_ALIVE_S
    idle_ceiling: int | None = IDLE_CEILING

    def __post_init__(self) -> None:
        if self.max_header_bytes < 1:
            raise ValueError("max_header_bytes must be at least 1")
        if not self.read_timeout_s > 0:
            raise ValueError("read_timeout_s must be more than 0")
        if self.max_idle_connections is not None and self.max_idle_connections < 1:
            raise ValueError("max_idle_connections must be at least 1")
        if not self.keep_alive_s > 0:
            raise ValueError("keep_alive_s must be more than 0")

    @property
    def idle_connections(self) -> int:
        return self.max_idle_connections or default_idle_connections(self.idle_ceiling)
