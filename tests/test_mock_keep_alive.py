"""The mock keeps an idle client connection open for ``--keep-alive`` seconds (default 75 s), then closes it.

25,000 students who pause between turns must keep their connections rather than reconnect: the
option reaches uvicorn's running configuration, and a tiny value really closes an idle
connection. No test is timed: the close is awaited with a generous deadline.
"""

from __future__ import annotations

import contextlib
import socket

import pytest
from click.testing import CliRunner

import canvas_ai_harness.mock as mock_package
from canvas_ai_harness.budgets import KEEP_ALIVE_S, ConnectionLimits
from canvas_ai_harness.cli import cli
from canvas_ai_harness.mock import MockConfig, MockServer

HANG_BOUND = 60.0  # only a server that never closes the idle connection reaches it
HEALTH = b"GET /__harness__/health HTTP/1.1\r\nHost: x\r\n\r\n"


def _answer(sock: socket.socket) -> bytes:
    """One whole answer on a kept-alive connection (its head and its content-length of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1])
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_the_default_keep_alive_is_75_seconds_in_every_config() -> None:
    assert KEEP_ALIVE_S == 75.0
    assert MockConfig().keep_alive_s == ConnectionLimits().keep_alive_s == KEEP_ALIVE_S


@pytest.mark.parametrize("keep_alive", [pytest.param(None, id="default"), pytest.param(42.0, id="configured")])
def test_the_keep_alive_reaches_the_running_uvicorn(keep_alive: float | None) -> None:
    config = MockConfig() if keep_alive is None else MockConfig(keep_alive_s=keep_alive)
    with MockServer(config) as server:
        assert server._server.config.timeout_keep_alive == (keep_alive or KEEP_ALIVE_S)
        assert server.limits.keep_alive_s == (keep_alive or KEEP_ALIVE_S)


def test_a_one_second_keep_alive_closes_an_idle_connection_after_serving_it_twice() -> None:
    with MockServer(MockConfig(keep_alive_s=1.0)) as server:
        sock = socket.create_connection((server.host, server.port), timeout=HANG_BOUND)
        with sock:
            for _ in range(2):  # kept alive between answers
                sock.sendall(HEALTH)
                assert _answer(sock).startswith(b"HTTP/1.1 200 ")
            # Idle now: the server closes it (recv returns b"", or a reset) well before the hang bound.
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(65536) == b""


def test_keep_alive_is_rejected_when_not_positive() -> None:
    with pytest.raises(ValueError, match="keep_alive_s"):
        ConnectionLimits(keep_alive_s=0)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param([], {}, KEEP_ALIVE_S, id="default"),
        pytest.param(["--keep-alive", "120"], {}, 120.0, id="option"),
        pytest.param([], {"CANVAS_AI_MOCK_KEEP_ALIVE": "90.5"}, 90.5, id="environment"),
    ],
)
def test_the_keep_alive_option_and_variable_reach_the_mock_config(
    monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], expected: float
) -> None:
    configs: list[MockConfig] = []

    class _NoServer(MockServer):
        def __init__(self, config: MockConfig, **_: object) -> None:
            configs.append(config)
            raise SystemExit(0)  # stop before binding a socket: the config is what is checked

    monkeypatch.setattr(mock_package, "MockServer", _NoServer)
    result = CliRunner().invoke(cli, ["mock", "--port", "0", *args], env=env)
    assert result.exit_code == 0, result.output
    assert [c.keep_alive_s for c in configs] == [expected]


def test_a_keep_alive_of_zero_is_a_usage_error_naming_the_option() -> None:
    result = CliRunner().invoke(cli, ["mock", "--port", "0", "--keep-alive", "0"])
    assert result.exit_code == 2
    assert "--keep-alive" in result.output
