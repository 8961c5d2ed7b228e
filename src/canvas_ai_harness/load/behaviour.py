"""How simulated students behave: what they type, how many turns they take, how long they think.

Plain functions of a ``random.Random`` so that a seeded run is repeatable and the tests need no
locust. Messages vary in length (from "ok" to a few paragraphs, never over 2000 characters,
well under profile ``ended``'s 4000) and in language and script, emoji included. Think time
grows with what the student reads (the assistant's reply) and types (its own message).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

__all__ = ["Behaviour", "compose_message", "draw_turns", "think_seconds"]

# Phrases a student might type, in several languages and scripts.
_PHRASES = {
    "en": [
        "I think the light energy is captured by the leaves",
        "chlorophyll absorbs mostly red and blue light",
        "so the glucose is stored for later",
        "wait, where does the oxygen come from?",
        "it needs water and carbon dioxide",
        "I'm not sure, can you give me a hint",
    ],
    "es": ["creo que la luz se convierte en energía química", "¿de dónde viene el oxígeno?", "la clorofila es verde"],
    "fr": ["je pense que la plante utilise l'énergie du soleil", "où va le dioxyde de carbone ?", "c'est ça ?"],
    "de": ["die Pflanze braucht Wasser und Kohlendioxid", "Blätter sind grün wegen Chlorophyll", "stimmt das?"],
    "pt": ["a fotossíntese acontece nos cloroplastos", "não sei bem, pode explicar?"],
    "ja": ["光合成は葉緑体で行われます", "酸素はどこから来ますか？", "よくわかりません"],  # noqa: RUF001
    "zh": ["植物利用阳光把水和二氧化碳变成葡萄糖", "叶绿素吸收红光和蓝光"],
    "ko": ["광합성은 빛 에너지를 화학 에너지로 바꿉니다", "잘 모르겠어요"],
    "ar": ["النباتات تحتاج إلى الماء وثاني أكسيد الكربون", "لا أعرف"],
    "hi": ["पौधे सूर्य के प्रकाश से भोजन बनाते हैं", "क्या यह सही है?"],
    "ru": ["растения поглощают углекислый газ", "я не уверен"],
    "el": ["η φωτοσύνθεση γίνεται στα φύλλα", "δεν ξέρω"],
}
_LANGUAGES = list(_PHRASES)
_LANGUAGE_WEIGHTS = [40 if lang == "en" else 5 for lang in _LANGUAGES]
# Cumulative once, not on every message: rng.choices draws the same either way.
_LANGUAGE_CUMULATIVE = list(itertools.accumulate(_LANGUAGE_WEIGHTS))
_SHORT = ["ok", "yes", "no", "hmm", "why?", "sure", "idk", "🤔", "👍", "?"]
_EMOJI = ["🌱", "☀️", "🍃", "💧", "🙂", "🤔", "✨"]
MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Behaviour:
    """The knobs of the student and teacher scenarios (all from the command line)."""

    think_scale: float = 1.0  # 0: no think time at all (benchmarks)
    turns_mean: float = 4.0
    max_turns: int = 20
    leave_rate: float = 0.15  # leave without ending the conversation
    restart_rate: float = 0.1  # start a new conversation although one is active (Canvas UI "restart")
    preview_rate: float = 0.25  # share of a teacher's actions spent on its own preview conversation
    session_pause: tuple[float, float] = (30.0, 120.0)  # seconds between a student's conversations


def draw_turns(rng: random.Random, mean: float, cap: int) -> int:
    """A number of turns from a geometric distribution with ``mean`` (at least 1, at most ``cap``)."""
    if mean <= 1:
        return 1
    p = 1.0 / mean
    turns = 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - p))
    return max(1, min(cap, turns))


def compose_message(rng: random.Random) -> str:
    """One student message: mostly a sentence or two, sometimes a word, sometimes paragraphs."""
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(_SHORT)
    language = rng.choices(_LANGUAGES, cum_weights=_LANGUAGE_CUMULATIVE)[0]
    phrases = _PHRASES[language]
    # Log-normal length: median ~80 characters, a long tail up to a few paragraphs.
    target = min(MAX_MESSAGE_CHARS, max(8, int(rng.lognormvariate(math.log(80), 0.9))))
    parts: list[str] = []
    size = 0
    while size < target:
        phrase = rng.choice(phrases)
        parts.append(phrase)
        size += len(phrase) + 2
    text = ". ".join(parts)[:MAX_MESSAGE_CHARS]
    if rng.random() < 0.15:
        text += " " + rng.choice(_EMOJI)
    return text.strip() or "ok"


def think_seconds(rng: random.Random, read_chars: int, typed_chars: int, scale: float) -> float:
    """Seconds to read ``read_chars`` (~20 chars/s) and type ``typed_chars`` (~3.5 chars/s), jittered."""
    if scale <= 0:
        return 0.0
    base = 1.5 + read_chars / 20.0 + typed_chars / 3.5
    return base * rng.lognormvariate(0.0, 0.3) * scale
