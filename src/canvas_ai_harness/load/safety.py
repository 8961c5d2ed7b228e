"""What a load run may do: which hosts it may hit, and how many users for how long.

A load test is an attack if pointed at the wrong host. Only loopback (127.0.0.0/8, ::1,
localhost) is allowed unless the host is named with ``--allow-host`` (a staging Canvas); the
check runs before anything is sent. Users and run time are capped (defaults below, raised
with ``--max-users`` and ``--max-run-time``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from canvas_ai_harness.errors import ConfigError

__all__ = ["MAX_RUN_TIME", "MAX_USERS", "check_caps", "check_host", "format_duration", "host_allowed", "parse_duration"]

MAX_USERS = 10_000
MAX_RUN_TIME = 4 * 3600.0
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$")


def _hostname(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(url: str, allowed: Iterable[str] = ()) -> bool:
    """Whether ``url``'s host is loopback or one of ``allowed`` (host names, case-insensitive)."""
    host = _hostname(url)
    if not host:
        return False
    return _is_loopback(host) or host in {a.strip().lower() for a in allowed if a.strip()}


def check_host(url: str, allowed: Iterable[str] = ()) -> None:
    """Raise ``ConfigError`` unless ``url`` may be load-tested (nothing has been sent yet)."""
    if not host_allowed(url, allowed):
        host = _hostname(url) or url
        raise ConfigError(
            f"refusing to load-test {host}: only 127.0.0.1/localhost are allowed by default; "
            f"if {host} is a staging Canvas you may load, add --allow-host {host}"
        )


def parse_duration(text: str) -> float:
    """Seconds in ``"90"``, ``"90s"``, ``"5m"``, ``"1h30m"``; ``ValueError`` otherwise."""
    match = _DURATION.match(text.lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"duration {text!r} is not like 30s, 5m, 1h30m or a number of seconds")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"duration {text!r} must be more than 0 seconds")
    return total


def format_duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60 or whole % 60:
        return f"{seconds:g}s"
    hours, minutes = divmod(whole // 60, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")


def check_caps(users: int, run_time: float, max_users: int, max_run_time: float) -> None:
    """Raise ``ConfigError`` when a run asks for more than its caps."""
    if users > max_users:
        raise ConfigError(f"--users {users} is over the cap of {max_users}; raise it with --max-users {users}")
    if run_time > max_run_time:
        raise ConfigError(
            f"--run-time {format_duration(run_time)} is over the cap of {format_duration(max_run_time)}; "
            f"raise it with --max-run-time {format_duration(run_time)}"
        )
