"""How many thinking students keep their connection to the mock: idle keep-alive connections.

    python bench/mock_idle.py [--students 17000] [--think 5]

Starts ``canvas-ai-harness mock`` in a process of its own (its default limits), then opens
``--students`` connections that each make one request and keep the connection; after ``--think``
seconds it counts the connections the mock closed, and makes a second request on every one. The
mock closes the longest-idle connection only past its cap (``budgets.default_idle_connections``);
this script's own open-file limit bounds ``--students`` (it raises its soft limit to the hard
one). Traffic goes to 127.0.0.1 only. Exit status 0 when the run completed. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUEST = b"GET /__harness__/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _turn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """One request and its whole answer on this connection; whether it was served."""
    try:
        writer.write(REQUEST)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        await asyncio.wait_for(reader.readexactly(length), 60)
        return True
    except (TimeoutError, OSError, asyncio.IncompleteReadError, StopIteration):
        return False


async def _run(port: int, students: int, think: float) -> None:
    gate = asyncio.Semaphore(500)  # connections being opened at once

    async def student() -> Connection:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if not await _turn(reader, writer):
                raise RuntimeError("the mock did not answer a first request")
            return reader, writer

    start = time.monotonic()
    connections = await asyncio.gather(*[student() for _ in range(students)])
    print(f"{students:,} students made one request each in {time.monotonic() - start:.1f} s; all thinking now")
    await asyncio.sleep(think)
    closed = sum(1 for reader, _ in connections if reader.at_eof())

    async def again(connection: Connection) -> bool:
        async with gate:
            return await _turn(*connection)

    served = sum(await asyncio.gather(*[again(c) for c in connections]))
    print(
        f"after {think:g} s of thinking: {closed:,} connections closed by the mock;"
        f" second turn served on the same connection: {served:,}/{students:,}"
    )
    for _, writer in connections:
        writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=17_000, help="connections, one per thinking student")
    parser.add_argument("--think", type=float, default=5.0, help="seconds every connection stays idle")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if args.students > soft - 100:
        parser.error(f"--students must stay below this process's open-file limit ({soft:,}) less 100")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="mock-idle-") as tmp:
        target, log_path = Path(tmp) / "target.toml", Path(tmp) / "mock.log"
        command = [
            sys.executable,
            "-m",
            "canvas_ai_harness",
            "mock",
            "--port",
            str(port),
            "--write-target",
            str(target),
        ]
        with log_path.open("wb") as log:
            mock = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120  # bounds a mock that never starts
            while not target.exists():
                if mock.poll() is not None or time.monotonic() > deadline:
                    print(f"the mock did not start: {log_path.read_text()}", file=sys.stderr)
                    return 2
                time.sleep(0.2)
            print(f"mock on port {port}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            asyncio.run(_run(port, args.students, args.think))
        finally:
            mock.send_signal(signal.SIGTERM)
            try:
                mock.wait(30)
            except subprocess.TimeoutExpired:
                mock.kill()
                mock.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
