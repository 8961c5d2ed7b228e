"""The harness's exceptions: one base class, a few subclasses, each with an exit code.

    HarnessError                 exit 2 unless a subclass says otherwise
    ├── ConfigError              a target file, an option or an environment variable is wrong
    │   ├── SetupError           the preflight: a token, an id or base_url of the target is wrong
    │   └── AccountsInUse        another run or user acts on the target's test accounts meanwhile
    ├── SpecError                specs/openapi.yaml is missing or unreadable
    ├── TargetUnreachable        nothing answers at the target's base_url
    └── HarnessFailure           exit 3: the harness itself failed (a bug), never the target's fault

Third-party errors are translated at the boundary (``raise ConfigError(...) from exc``), so a
caller needs to catch only ``HarnessError``. Messages say what was wrong, where, and what to do;
the CLI prints them as one line.
"""

from __future__ import annotations

from canvas_ai_harness.exits import EXIT_HARNESS, EXIT_USAGE


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""

    exit_code: int = EXIT_USAGE


class ConfigError(HarnessError):
    """A target file, a command-line option or an environment variable is invalid."""


class SetupError(ConfigError):
    """The target answered, but the target file is wrong: a refused token, a wrong role, an unknown id."""


class AccountsInUse(ConfigError):
    """Someone else (another run, a person) acts on the target's test accounts during the run.

    Canvas keeps one active conversation per user: their creates close the run's conversations,
    and every rule about them would fail for a reason that is not Canvas's.
    """


class SpecError(HarnessError):
    """The OpenAPI spec cannot be found or parsed."""


class TargetUnreachable(HarnessError):
    """The target Canvas (or mock) does not answer at its base URL."""


class HarnessFailure(HarnessError):
    """The harness itself failed; the message points to the traceback it wrote."""

    exit_code = EXIT_HARNESS
