"""Fixtures live in small modules under tests/fixtures; this file only lists them."""

pytest_plugins = [
    "fixtures.servers",
    "fixtures.custom_servers",
    "fixtures.services",
    "fixtures.proxy",
    "fixtures.load",
    "fixtures.contract",
    "fixtures.signals",
    "fixtures.generation",
    "fixtures.browser",
]
