"""Load the contract suite's pytest plugin (options, session, fixtures, reports)."""

pytest_plugins = ["canvas_ai_harness.contract.plugin"]
