"""Memory of the mock Canvas holding many conversations: RSS delta, tracemalloc, bytes per conversation.

    python bench/mock_memory.py [--conversations 100000] [--students 1000]

Builds the conversations the way a load run does, through ``CanvasService.respond`` with
in-process ``ApiRequest``s: each student creates a conversation, posts four messages into it
(2 + 4 x 2 = 10 messages), then creates the next one, which completes the previous one. Every
conversation stays stored (``max_conversations`` and ``max_stored_bytes`` are set above what it
builds, so nothing is evicted). It also prints the store's own estimate of the bytes it holds
(``stored_bytes``, what ``--max-stored-bytes`` bounds) beside the RSS, to keep the estimate honest.

Two builds, each in a fresh ``CanvasService``: the first with tracemalloc off gives the process's
RSS growth; the second under tracemalloc gives the bytes Python allocated and where. The world's
students are created before either measurement starts, so the figures are the conversations'
own. The AI's hidden prompt, the first message of every conversation, is stored as one JSON
string per experience shared by all its conversations (by design); the script checks that it is.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from canvas_ai_harness.mock import ApiRequest, CanvasService, MockConfig

COURSE, EXPERIENCE = 101, 7
CONVERSATIONS = f"/api/v1/courses/{COURSE}/ai_experiences/{EXPERIENCE}/conversations"
MESSAGE = "I think the leaf turns sunlight into sugar"  # the throughput benchmark's message
POSTS = 4  # 2 messages at creation + 4 x 2 = 10


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _service(conversations: int, students: int) -> tuple[CanvasService, list[dict[str, str]]]:
    config = MockConfig(max_conversations=conversations + 1, max_stored_bytes=2**40, record_calls=0)
    service = CanvasService(config)
    users = service.world.add_students(COURSE, students)
    headers = [{"authorization": f"Bearer {u.token}", "content-type": "application/json"} for u in users]
    return service, headers


def build(service: CanvasService, headers: list[dict[str, str]], conversations: int) -> None:
    """Create ``conversations`` conversations of 10 messages, the students taking turns."""
    body = json.dumps({"message": MESSAGE}).encode()
    for n in range(conversations):
        h = headers[n % len(headers)]
        created = service.respond(ApiRequest("POST", CONVERSATIONS, headers=h))
        if created.status != 201:
            raise SystemExit(f"create answered {created.status}: {created.body!r}")
        path = f"{CONVERSATIONS}/{created.json()['id']}/messages"
        for _ in range(POSTS):
            posted = service.respond(ApiRequest("POST", path, headers=h, body=body))
            if posted.status != 200:
                raise SystemExit(f"post answered {posted.status}: {posted.body!r}")


def _check(service: CanvasService, conversations: int) -> str:
    stored = service.store.snapshot()
    sizes = {len(c.records) for c in stored}
    prompt = service.world.experiences[EXPERIENCE].hidden_prompt
    first = stored[0].records[0][1]  # the hidden prompt, as the JSON the store keeps
    shared = json.loads(first)["text"] == prompt and all(c.records[0][1] is first for c in stored)
    if len(stored) != conversations or sizes != {2 + 2 * POSTS} or service.store.evicted:
        raise SystemExit(f"expected {conversations} conversations of 10 messages, got {len(stored)} of sizes {sizes}")
    return f"{len(stored):,} conversations of {sizes.pop()} messages, none evicted; hidden prompt shared: {shared}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--students", type=int, default=1_000, help="students taking turns to create them")
    parser.add_argument("--top", type=int, default=8, help="allocation sites to list")
    args = parser.parse_args(argv)
    n = args.conversations

    print(f"mock memory: {n:,} conversations of 10 messages, built through CanvasService.respond")
    print(f"Python {sys.version.split()[0]}; message text {len(MESSAGE)} characters: {MESSAGE!r}")

    # 1. RSS, tracemalloc off.
    service, headers = _service(n, args.students)
    gc.collect()
    rss0, started = _rss(), time.perf_counter()
    build(service, headers, n)
    seconds = time.perf_counter() - started
    gc.collect()
    rss = _rss() - rss0
    estimate = service.store.stored_bytes
    print(_check(service, n))
    print(f"built in {seconds:.1f} s ({5 * n / seconds:,.0f} requests/s in-process)")
    del service, headers
    gc.collect()

    # 2. tracemalloc, in a fresh service (the first one's memory is not counted).
    service, headers = _service(n, args.students)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    traced0 = tracemalloc.get_traced_memory()[0]
    build(service, headers, n)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - traced0
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()

    print()
    print(f"{'':28}{'total':>12}{'per conversation':>18}")
    print(f"{'RSS growth':28}{rss / 2**20:9.1f} MiB{rss / n:13,.0f} bytes")
    print(f"{'tracemalloc (Python heap)':28}{traced / 2**20:9.1f} MiB{traced / n:13,.0f} bytes")
    print(f"{'store estimate (stored_bytes)':28}{estimate / 2**20:9.1f} MiB{estimate / n:13,.0f} bytes")
    cap, budget = MockConfig().max_conversations, MockConfig().max_stored_bytes
    held = min(cap, budget * n // max(estimate, 1))
    print(
        f"at the defaults (--max-conversations {cap:,}, --max-stored-bytes {budget / 2**20:.0f} MiB): "
        f"{held:,} such conversations, about {rss / n * held / 2**20:,.0f} MiB of RSS"
    )
    print()
    print(f"where the traced bytes went (top {args.top} lines, per conversation):")
    for stat in after.compare_to(before, "lineno")[: args.top]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {stat.size_diff / n:8,.0f} B  {stat.count_diff / n:5.1f} objects  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
