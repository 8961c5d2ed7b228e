"""Where ``specs/openapi.yaml`` lives, and its parsed content.

The spec is the single source of truth about the API: nothing generates it and nothing copies
it into code. A wheel carries it as ``canvas_ai_harness/openapi.yaml`` (see pyproject.toml); a
source checkout or editable install reads it from ``specs/`` at the repository's top.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from canvas_ai_harness.errors import SpecError

__all__ = ["load_spec", "spec_path"]

_PACKAGED = Path(__file__).with_name("openapi.yaml")
_CHECKOUT = Path(__file__).resolve().parents[2] / "specs" / "openapi.yaml"


def spec_path() -> Path:
    """Return the path of the OpenAPI spec, preferring a source checkout's copy."""
    for candidate in (_CHECKOUT, _PACKAGED):
        if candidate.is_file():
            return candidate
    raise SpecError(
        f"specs/openapi.yaml not found (looked at {_CHECKOUT} and {_PACKAGED}); "
        "reinstall canvas-ai-harness or run from a checkout of its repository"
    )


@functools.cache
def load_spec() -> dict[str, Any]:
    """Parse the spec once per process and return it as plain Python data."""
    path = spec_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or "paths" not in data:
        raise SpecError(f"{path} is not an OpenAPI document (no 'paths' key)")
    return data
