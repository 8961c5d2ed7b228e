"""How long one simulated conversation lasts, and the warning for a run shorter than one.

A student thinks before every message in proportion to what it reads and types
(``behaviour.think_seconds``), so at ``--think-scale 1`` a conversation of four turns takes a few
minutes. A run shorter than that ends before most conversations do: nothing is "completed per
minute", and the turn-latency figures never reach later turns. ``short_run_warning`` says so at
the start, in one line naming the run length, the think scale and what to set instead.

The typical conversation is measured, not guessed: the behaviour's own functions, drawn with a
fixed seed, give the mean think time per turn and the mean number of turns.
"""

from __future__ import annotations

import random
from functools import cache

from canvas_ai_harness.load.behaviour import compose_message, draw_turns, think_seconds
from canvas_ai_harness.load.safety import format_duration

__all__ = ["conversation_seconds", "short_run_warning"]

_DRAWS = 2000
_READ_CHARS = 300  # a reply of a few sentences, as the mock's and Canvas's are


@cache
def _per_turn_and_turns(turns_mean: float) -> tuple[float, float]:
    rng = random.Random(13)
    think = sum(think_seconds(rng, _READ_CHARS, len(compose_message(rng)), 1.0) for _ in range(_DRAWS)) / _DRAWS
    turns = sum(draw_turns(rng, turns_mean, 20) for _ in range(_DRAWS)) / _DRAWS
    return think, turns


def conversation_seconds(think_scale: float, turns_mean: float = 4.0, reply_ms: float = 1000.0) -> float:
    """The mean length in seconds of one conversation: its turns' think time and the AI's replies."""
    think, turns = _per_turn_and_turns(turns_mean)
    return turns * (think * think_scale + reply_ms / 1000.0)


def short_run_warning(run_time: float, think_scale: float, turns_mean: float = 4.0, reply_ms: float = 1000.0) -> str:
    """One line when ``run_time`` is shorter than a typical conversation; empty otherwise."""
    length = conversation_seconds(think_scale, turns_mean, reply_ms)
    if run_time >= length:
        return ""
    think, turns = _per_turn_and_turns(turns_mean)
    # the think scale at which a conversation fits in half the run, so that most end inside it
    fits = max(0.0, (run_time / 2 / turns - reply_ms / 1000.0) / think)
    scale = f"--think-scale {fits:.2g} or less" if fits >= 0.01 else "--think-scale 0"
    return (
        f"warning: a {format_duration(run_time)} run is shorter than one conversation at --think-scale "
        f"{think_scale:g} (about {format_duration(round(length))}): few conversations will end and "
        f"conversations per minute will read low; set --run-time {_round_up(2 * length)} or more, or {scale}"
    )


def _round_up(seconds: float) -> str:
    step = 60 if seconds > 120 else 10
    return format_duration(step * -(-int(seconds) // step))
