"""``python -m canvas_ai_harness``: the same as the ``canvas-ai-harness`` command."""

from __future__ import annotations

import sys

from canvas_ai_harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
