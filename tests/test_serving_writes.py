"""An answer's head waits for its body, so that most answers leave in one write; nothing is held back.

The unit tests drive ``_HeadWithBody`` with a recording transport; the socket tests check, on a
real mock, that HEAD (no body write), ``Expect: 100-continue`` and keep-alive still answer whole.
"""

from __future__ import annotations

import json
import socket

from canvas_ai_harness.mock import MockConfig, MockServer
from canvas_ai_harness.serving import _HeadWithBody

HANG_BOUND = 60.0
BASE = "/api/v1/courses/101/ai_experiences/7/conversations"


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_the_head_leaves_with_the_first_body_bytes_in_one_write() -> None:
    transport = _Recorder()
    held = _HeadWithBody(transport)  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.writes == []
    held.write(b"body")
    held.write(b"more")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]


def test_a_100_continue_leaves_at_once_and_closing_sends_a_held_head() -> None:
    transport = _Recorder()
    held = _HeadWithBody(transport)  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    held.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    held.close()
    assert transport.writes[-1] == b"HTTP/1.1 500 Internal Server Error\r\n\r\n" and transport.closed


def _read_until(sock: socket.socket, data: bytes, marker: bytes) -> bytes:
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed early: {data!r}"
        data += chunk
    return data


def _answer(sock: socket.socket, data: bytes = b"") -> tuple[bytes, bytes]:
    """One answer with a content-length: its head and body."""
    head, _, body = _read_until(sock, data, b"\r\n\r\n").partition(b"\r\n\r\n")
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_head_continue_and_keep_alive_still_answer_whole_on_one_connection() -> None:
    token = b"Authorization: Bearer mock-student-token\r\n"
    with MockServer(MockConfig(seed=1)) as server:
        sock = socket.create_connection((server.host, server.port), timeout=HANG_BOUND)
        with sock:
            sock.sendall(b"POST " + BASE.encode() + b" HTTP/1.1\r\nHost: x\r\n" + token + b"\r\n")
            head, created = _answer(sock)
            assert head.startswith(b"HTTP/1.1 201 "), head
            sock.sendall(b"HEAD " + BASE.encode() + b" HTTP/1.1\r\nHost: x\r\n" + token + b"\r\n")
            data = _read_until(sock, b"", b"\r\n\r\n")
            assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\n")  # a head, no body
            body = b'{"message": "hello there"}'
            path = f"{BASE}/{json.loads(created)['id']}/messages".encode()
            sock.sendall(
                b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + token + b"Expect: 100-continue\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
            )
            data = _read_until(sock, b"", b"\r\n\r\n")
            assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), data  # sent at once, not held
            sock.sendall(body)
            head, posted = _answer(sock, data[len(b"HTTP/1.1 100 Continue\r\n\r\n") :])
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert len(json.loads(posted)["messages"]) == 4
