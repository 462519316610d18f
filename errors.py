"""The one base class for problems a user can fix. Its message is shown as is, in the UI, the CLI and the API,
so it must name the problem (file, line, field, reference); anything else is a bug and shows its kind."""
from __future__ import annotations


class UserError(Exception):
    """Bad input or an unmet precondition, with a sentence that says which and what to do."""


class ConfigError(UserError, ValueError):
    """A config (training, evaluation, search, study) that cannot run; the message names the field."""


def readable(exc: BaseException) -> str:
    """A sentence for a page or a terminal: our own messages as they are, anything else with its kind."""
    return str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
