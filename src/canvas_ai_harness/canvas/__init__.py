"""Canvas's rules for the AI Conversations routes, written once, with no HTTP server under them.

Every part of the harness that must agree about Canvas (the mock, the ``responses`` fake, the
contract suite, the load suite and the proxy) reads its rules here:

- ``requests``: reading a request as Canvas does (parameters, token, ids, Ruby's ``blank?``);
- ``routes``: the five routes, matching a path to its operationId and building paths;
- ``lifecycle``: each identity's conversations per experience, and who may reach which;
- ``transcript``: what a new transcript is, what a turn may change, where the AI's id may appear;
- ``answers``: the profiles' differences and what kind of answer a response is;
- ``bodies``: the bodies Canvas answers with, and its small conventions.

The package imports nothing of the harness (``errors`` aside) and no third-party library, so
every part, even the lightest, may use it.
"""

from __future__ import annotations

from canvas_ai_harness.canvas import answers, bodies, lifecycle, requests, routes, transcript

__all__ = ["answers", "bodies", "lifecycle", "requests", "routes", "transcript"]
