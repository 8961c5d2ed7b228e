"""The fake AI service behind the mock: deterministic replies, progress, latency and failures.

Replies depend on the user's text (a hash picks the wording, the text's own shape fills it in)
and never echo it. A user turn of at least three words covers the next learning objective, so
progress advances as a conversation goes on. Latency and failures are drawn from a seeded
random generator, so a run with a seed is repeatable.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import uuid
from dataclasses import dataclass

from canvas_ai_harness.mock.world import Experience

__all__ = ["FakeLLM", "LLMServiceError", "Latency"]

_OPENERS = (
    "Interesting thought.",
    "That's a good start.",
    "I see where you're going.",
    "Hmm, let me think about that.",
    "You're on to something.",
    "Not quite, but close.",
)
_PROBES = (
    "Can you say more about {topic}?",
    "What makes you think that, in terms of {topic}?",
    "How would you explain {topic} to a classmate?",
    "Which part of {topic} feels least clear to you?",
)
_WORD = re.compile(r"\w+", re.UNICODE)


class LLMServiceError(Exception):
    """The AI service failed; Canvas turns this into a 503."""


@dataclass(slots=True, frozen=True)
class Latency:
    """How long the AI takes: a mean and a jitter (standard deviation), in milliseconds."""

    mean_ms: float = 0.0
    jitter_ms: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Latency:
        """Parse ``"MEAN"`` or ``"MEAN:JITTER"`` (milliseconds), e.g. ``"800:200"``."""
        mean, _, jitter = text.partition(":")
        try:
            value = cls(float(mean), float(jitter or 0))
        except ValueError:
            raise ValueError(f"latency {text!r} is not MEAN or MEAN:JITTER in milliseconds, e.g. 800:200") from None
        if value.mean_ms < 0 or value.jitter_ms < 0:
            raise ValueError(f"latency {text!r} must not be negative")
        return value

    def sample(self, rng: random.Random) -> float:
        """One delay, in seconds."""
        if self.mean_ms == 0 and self.jitter_ms == 0:
            return 0.0
        return max(0.0, rng.gauss(self.mean_ms, self.jitter_ms)) / 1000.0


class FakeLLM:
    """A deterministic stand-in for Canvas's AI service."""

    def __init__(
        self,
        latency: Latency | None = None,
        failure_rate: float = 0.0,
        seed: int | None = None,
        null_id_rate: float = 0.0,
    ) -> None:
        for name, rate in (("failure rate", failure_rate), ("null id rate", null_id_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} {rate} must be between 0 and 1")
        self.latency = latency or Latency()
        self.failure_rate = failure_rate
        self.null_id_rate = null_id_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._questions: dict[tuple[str, str, tuple[str, ...]], str] = {}  # one first question per experience

    def call(self) -> float:
        """Account for one call to the AI service: raise on an injected failure, else return its delay."""
        if not self.failure_rate and not self.latency.mean_ms and not self.latency.jitter_ms:
            return 0.0  # no draw to make: no lock to take
        with self._lock:
            if self.failure_rate and self._rng.random() < self.failure_rate:
                raise LLMServiceError("The AI service is temporarily unavailable.")
            return self.latency.sample(self._rng)

    def reference_id(self) -> str:
        with self._lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def start(self, experience: Experience) -> tuple[str | None, str]:
        """Open a conversation: the AI service's id (``None`` when it returned none) and the first question."""
        with self._lock:
            no_id = bool(self.null_id_rate) and self._rng.random() < self.null_id_rate
        return (None if no_id else self.reference_id()), self._question(experience)

    def _question(self, experience: Experience) -> str:
        key = (experience.title, experience.scenario, experience.objectives)
        question = self._questions.get(key)
        if question is None:
            topic = experience.objectives[0].lower() if experience.objectives else experience.title.lower()
            question = f"Hello! {experience.scenario} To begin: what do you already know about how to {topic}?"
            if len(self._questions) < 1_024:  # experiences are few; a bound all the same
                self._questions[key] = question
        return question

    @staticmethod
    def words(text: str) -> int:
        """How many words the AI sees in ``text``."""
        return len(_WORD.findall(text))

    @staticmethod
    def covers(text: str, words: int | None = None) -> bool:
        """Whether a user turn is substantive enough to cover the next objective (``words``: if counted)."""
        return (FakeLLM.words(text) if words is None else words) >= 3

    def reply(self, experience: Experience, text: str, covered: int, words: int | None = None) -> str:
        """The assistant's answer to ``text``, given how many objectives are covered (``words``: if counted)."""
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        if words is None:
            words = FakeLLM.words(text)
        opener = _OPENERS[digest[0] % len(_OPENERS)]
        if experience.objectives and covered < len(experience.objectives):
            topic = experience.objectives[covered].lower()
            probe = _PROBES[digest[1] % len(_PROBES)].format(topic=topic)
        elif experience.objectives:
            probe = "You've covered every objective. Is there anything you'd like to revisit?"
        else:
            probe = "What else would you like to explore?"
        noun = "word" if words == 1 else "words"
        return f"{opener} (You used {words} {noun}; note {digest[:3].hex()}.) {probe}"
