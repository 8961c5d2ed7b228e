"""Run the example client through the spec-checking proxy against the mock, and print the report.

    python examples/run_through_proxy.py [--report conformance-report.json]

Everything runs in this process on 127.0.0.1: the mock Canvas (whose AI fails one call in four,
so the client's retries show), the proxy in front of it, and the client pointed at the proxy.
To check your own client, start ``canvas-ai-harness proxy --mock`` (or ``--upstream
https://your.canvas``), point the client's base URL at the proxy, exercise it, press Ctrl-C
and read the report. Exit code 0 when every request and response conformed, else 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ai_conversations_client import AIConversationsClient, CanvasError, RetryPolicy

from canvas_ai_harness.mock import MockConfig, MockServer
from canvas_ai_harness.proxy import ProxyConfig, ProxyServer, write_report


def exercise(client: AIConversationsClient, teacher: AIConversationsClient) -> None:
    """What a student's session looks like from Canvas's UI, plus a teacher's look at it."""
    conversation = client.active() or client.create()
    conversation_id = conversation.id
    assert conversation_id is not None, "the AI service gave no id; run again"
    for text in (
        "Plants capture light energy in their leaves.",
        "Chlorophyll in the chloroplasts absorbs it.",
        "The inputs are water and carbon dioxide; the outputs are sugar and oxygen.",
    ):
        conversation = client.send(conversation_id, text)
        print(f"  assistant: {conversation.last_reply}")
    teacher.show(conversation_id)
    client.close(conversation_id)
    try:  # deliberately, to show the report catching a client that keeps using a closed conversation
        client.send(conversation_id, "Are you still there?")
    except CanvasError as exc:
        print(f"  as expected after closing: {type(exc).__name__} ({exc.status})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=Path("conformance-report.json"), help="where to write it")
    args = parser.parse_args()

    with MockServer(MockConfig(llm_failure_rate=0.25, seed=5)) as mock:
        target = mock.target()
        config = ProxyConfig(mock.url, secrets=tuple(target.secrets()))
        with ProxyServer(config) as proxy:
            print(f"mock {mock.url}, proxy {proxy.url}")
            retry = RetryPolicy(base_delay=0.1)
            client = AIConversationsClient(proxy.url, target.tokens.student, 101, 7, retry=retry)
            teacher = AIConversationsClient(proxy.url, target.tokens.teacher or "", 101, 7, retry=retry)
            exercise(client, teacher)
        report = proxy.report.finish()
    paths = write_report(report, args.report)
    print()
    print(report.to_text(), end="")
    print(f"\nWritten: {', '.join(map(str, paths))}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
