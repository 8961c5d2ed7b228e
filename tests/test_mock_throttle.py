"""Canvas's per-user leaky-bucket throttling: 403 text/plain, and the cost headers on every answer."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest

from canvas_ai_harness.mock import ApiRequest, CanvasService, MockConfig, ThrottleConfig
from canvas_ai_harness.mock.throttle import LeakyBuckets
from fixtures.custom_servers import StartCanvas

RATE_LIMITED = "403 Forbidden (Rate Limit Exceeded)"
# Room for exactly one request in flight: a second one overflows until the first has drained.
ONE_AT_A_TIME = ThrottleConfig(capacity=100, outflow=0, upfront=60, cost=60)


@dataclass
class Ticker:
    """A monotonic clock that moves only when told to."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttled_request_is_403_plain_text_with_zero_remaining(start_canvas: StartCanvas) -> None:
    canvas = start_canvas(throttle=ONE_AT_A_TIME)
    first = canvas.call("GET", canvas.path())
    assert first.status_code == 200
    assert (first.headers["x-request-cost"], first.headers["x-rate-limit-remaining"]) == ("60.0", "40.0")
    second = canvas.call("GET", canvas.path())
    assert second.status_code == 403
    assert second.headers["content-type"].startswith("text/plain")
    assert second.text == RATE_LIMITED
    assert second.headers["x-rate-limit-remaining"] == "0.0"


def test_each_user_has_a_bucket_of_their_own(start_canvas: StartCanvas) -> None:
    canvas = start_canvas(throttle=ONE_AT_A_TIME)
    assert canvas.call("GET", canvas.path()).status_code == 200
    assert canvas.call("GET", canvas.path()).status_code == 403
    assert canvas.call("GET", canvas.path(), "teacher").status_code == 200
    assert canvas.call("GET", canvas.path(), None).status_code == 401  # anonymous: a bucket per address
    assert canvas.call("GET", canvas.path(), None).status_code == 403


def test_header_names_arrive_lower_case(start_canvas: StartCanvas) -> None:
    canvas = start_canvas(throttle=ONE_AT_A_TIME)
    request = f"GET {canvas.path()} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mock-student-token\r\n"
    with socket.create_connection((canvas.server.host, canvas.server.port), timeout=5) as sock:
        sock.sendall(request.encode() + b"Connection: close\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head and (chunk := sock.recv(4096)):
            head += chunk
    names = [line.split(b":")[0] for line in head.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]]
    assert b"x-request-cost" in names and b"x-rate-limit-remaining" in names
    assert names == [name.lower() for name in names]


def test_cost_headers_are_absent_without_throttling(start_canvas: StartCanvas) -> None:
    canvas = start_canvas()
    response = canvas.call("GET", canvas.path())
    assert "x-request-cost" not in response.headers and "x-rate-limit-remaining" not in response.headers


def test_sequential_requests_pay_only_their_real_cost(start_canvas: StartCanvas) -> None:
    canvas = start_canvas(throttle=ThrottleConfig(outflow=0))  # 800 capacity, 50 up front, 1 per request
    statuses = [canvas.call("GET", canvas.path()).status_code for _ in range(20)]
    # The up-front 50 is refunded when a request ends, so each finished one leaves only 1 behind.
    assert statuses == [200] * 20
    remaining = float(canvas.call("GET", canvas.path()).headers["x-rate-limit-remaining"])
    assert remaining == pytest.approx(800 - 21)


# -- the bucket itself, on a fake clock ------------------------------------------------------------------


def test_bucket_refuses_when_the_up_front_cost_would_overflow() -> None:
    buckets = LeakyBuckets(ThrottleConfig(capacity=100, outflow=10, upfront=40, cost=5), clock=Ticker())
    assert buckets.admit("u") == 60
    assert buckets.admit("u") == 20
    assert buckets.admit("u") is None
    assert buckets.admit("other") == 60


def test_bucket_drains_at_the_outflow_rate() -> None:
    clock = Ticker()
    buckets = LeakyBuckets(ThrottleConfig(capacity=100, outflow=10, upfront=40, cost=5), clock=clock)
    buckets.admit("u")
    buckets.admit("u")
    assert buckets.admit("u") is None
    clock.now += 1.9  # 19 drained: 61 + 40 still overflows
    assert buckets.admit("u") is None
    clock.now += 0.2  # 21 drained in all: 59 + 40 fits
    assert buckets.admit("u") == pytest.approx(1)
    clock.now += 1000
    assert buckets.admit("u") == 60  # never below empty


def test_settle_swaps_the_up_front_cost_for_the_real_cost() -> None:
    buckets = LeakyBuckets(ThrottleConfig(capacity=100, outflow=0, upfront=40, cost=5), clock=Ticker())
    assert buckets.admit("u") == 60
    assert buckets.settle("u") == 95
    buckets.reset()
    assert buckets.admit("u") == 60


def test_service_throttles_until_the_bucket_drains() -> None:
    service = CanvasService(MockConfig(throttle=ONE_AT_A_TIME))
    clock = Ticker()
    service.buckets = LeakyBuckets(ThrottleConfig(capacity=100, outflow=10, upfront=60, cost=60), clock=clock)
    path = "/api/v1/courses/101/ai_experiences/7/conversations"
    request = ApiRequest("GET", path, headers={"authorization": "Bearer mock-student-token"})
    assert service.respond(request).status == 200
    refused = service.respond(request)
    assert (refused.status, refused.body) == (403, RATE_LIMITED.encode())
    assert refused.content_type.startswith("text/plain")
    clock.now += 2  # 20 drained: 40 + 60 fits again
    assert service.respond(request).status == 200


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"capacity": 0}, id="zero-capacity"),
        pytest.param({"outflow": -1}, id="negative-outflow"),
        pytest.param({"upfront": -1}, id="negative-upfront"),
        pytest.param({"cost": -0.5}, id="negative-cost"),
    ],
)
def test_throttle_config_refuses_impossible_values(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="throttle"):
        ThrottleConfig(**options)
