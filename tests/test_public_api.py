"""The public API: each ``__all__`` is sorted, and every name in it can be imported."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "canvas_ai_harness",
    "canvas_ai_harness.canvas",
    "canvas_ai_harness.cli",
    "canvas_ai_harness.exits",
    "canvas_ai_harness.fake",
    "canvas_ai_harness.load",
    "canvas_ai_harness.mock",
    "canvas_ai_harness.proxy",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_unique(package: str) -> None:
    names = importlib.import_module(package).__all__
    assert names, package
    assert list(names) == sorted(set(names)), package


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_is_importable(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        namespace: dict[str, object] = {}
        exec(f"from {package} import {name}", namespace)
        assert namespace[name] is getattr(module, name)


@pytest.mark.parametrize("package", PACKAGES)
def test_public_classes_and_functions_are_in_all(package: str) -> None:
    module = importlib.import_module(package)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and callable(value) and getattr(value, "__module__", "").startswith(package)
    }
    assert public <= set(module.__all__), sorted(public - set(module.__all__))


def test_version_matches_the_installed_distribution() -> None:
    from importlib.metadata import version

    import canvas_ai_harness

    assert canvas_ai_harness.__version__ == version("canvas-ai-harness")
