"""Load the contract suite's pytest plugins: options, session, fixtures, reports; the live progress line."""

pytest_plugins = ["canvas_ai_harness.contract.plugin", "canvas_ai_harness.contract.live"]
