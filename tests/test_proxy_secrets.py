"""The proxy learns a token wherever Canvas reads one, before it writes anything about the request.

Canvas takes a token from ``Authorization: Bearer`` or an ``access_token`` parameter in the
query, a form or a JSON body (keys and values may be escaped); the proxy's log, its report and
its summaries must never hold a piece of it, not even for the first request that carries it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest

from canvas_ai_harness.mock import MockServer
from canvas_ai_harness.proxy import ProxyConfig, ProxyServer, write_report
from fixtures.hooks import LONG_TOKEN, fragments
from fixtures.proxy import BASE, Proxied


@pytest.fixture
def proxied(mock_servers: dict[str, MockServer]) -> Iterator[Proxied]:
    """A new proxy (one that has learned no token yet) in front of a freshly reset mock."""
    upstream = mock_servers["completed"]
    upstream.service.reset()
    with (
        ProxyServer(ProxyConfig(upstream.url)) as proxy,
        httpx.Client(base_url=proxy.url, timeout=10) as http,
        httpx.Client(base_url=upstream.url, timeout=10) as direct,
    ):
        yield Proxied(proxy, http, direct)


def _every_byte_encoded(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode())


def _written(proxied: Proxied, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    paths = write_report(proxied.report, tmp_path / "report.json")
    return [p.read_text() for p in paths] + [caplog.text, proxied.report.to_text()]


def _leaked(texts: list[str]) -> set[str]:
    """Pieces of the token in ``texts``, as they are or percent-encoded."""
    return {piece for piece in fragments(LONG_TOKEN) for text in texts if piece in text + unquote(text)}


@pytest.mark.parametrize(
    ("how", "request_kwargs"),
    [
        pytest.param(
            "json-body",
            {"json": {"access_token": LONG_TOKEN, "message": [LONG_TOKEN]}},
            id="access-token-in-a-json-body-echoed-in-a-violation",
        ),
        pytest.param(
            "json-escaped-key",
            {
                "content": ('{"\\u0061ccess_token": "' + LONG_TOKEN + '", "message": ["' + LONG_TOKEN + '"]}').encode(),
                "headers": {"Content-Type": "application/json"},
            },
            id="access-token-under-an-escaped-json-key",
        ),
        pytest.param(
            "form-body",
            {
                "content": f"message=&access_token={quote(LONG_TOKEN, safe='')}".encode(),
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            id="access-token-in-a-form",
        ),
        pytest.param(
            "query",
            {"params": {"access_token": LONG_TOKEN, "message": ""}},
            id="access-token-in-the-query",
        ),
        pytest.param(
            "encoded-query-key",
            {"url_suffix": f"?access%5Ftoken={_every_byte_encoded(LONG_TOKEN)}&message="},
            id="access-token-under-a-percent-encoded-query-key",
        ),
    ],
)
def test_a_token_sent_only_as_an_access_token_parameter_is_never_written(
    how: str,
    request_kwargs: dict[str, object],
    proxied: Proxied,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "canvas_ai_harness.proxy")
    kwargs = dict(request_kwargs)
    url = f"{BASE}/1/messages" + str(kwargs.pop("url_suffix", ""))

    proxied.http.post(url, **kwargs)  # type: ignore[arg-type]

    texts = _written(proxied, tmp_path, caplog)
    assert proxied.report.to_dict()["totals"]["request_violations"] >= 1, how
    assert not _leaked(texts), how
    assert proxied.report.to_dict()["violations"][0]["client"] == "client-1", how  # the token was read


def test_a_percent_encoded_token_in_the_path_of_the_first_request_is_never_written(
    proxied: Proxied, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "canvas_ai_harness.proxy")
    headers = {"Authorization": f"Bearer {LONG_TOKEN}"}

    proxied.http.get(f"{BASE}/{_every_byte_encoded(LONG_TOKEN)}", headers=headers)

    texts = _written(proxied, tmp_path, caplog)
    assert "#1 GET" in caplog.text  # the first request was logged, its path redacted
    assert not _leaked(texts)


def test_an_unreadable_body_still_gives_up_its_token(
    proxied: Proxied, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "canvas_ai_harness.proxy")
    body = b"message=\xff&access_token=" + LONG_TOKEN.encode()  # not UTF-8: Canvas cannot read it

    proxied.http.post(
        f"{BASE}/1/messages?note={LONG_TOKEN}",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert not _leaked(_written(proxied, tmp_path, caplog))
    assert json.dumps(proxied.report.to_dict()).count("[REDACTED]") >= 1
