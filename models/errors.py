"""Errors a user can act on. Their text is shown as is in the UI and the CLI, so it must name the problem."""
from errors import UserError


class ModelError(UserError):
    """A model could not be resolved, loaded or run; the message says which reference and why."""


class UnknownModelError(ModelError):
    """The reference names no backend or no model we know."""


class MissingPackageError(ModelError):
    """A package the model needs is not installed; the message names the install command."""


class InputError(ModelError):
    """The request itself is wrong (empty message, bad parameter)."""
