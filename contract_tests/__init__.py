"""The contract suite: does this Canvas keep the AI Conversations contract?

Run it with ``canvas-ai-harness contract`` or ``pytest contract_tests --target PATH``. The
modules here are scenarios; the rules they exercise live in ``canvas_ai_harness.contract``
(the rulebook judges every answer the suite gets, whichever module asked).
"""
