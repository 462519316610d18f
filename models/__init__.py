"""The only place that loads weights. Training, evaluation and chat all resolve model references here.

Importing this package is light: torch and transformers load only when a model does.
"""
from models.builtin import DEFAULT_MODEL
from models.errors import InputError, MissingPackageError, ModelError, UnknownModelError
from models.generation import ChatModel, Generation, GenerationParams, TextStream
from models.registry import parse, resolve

__all__ = [
    "DEFAULT_MODEL", "ChatModel", "Generation", "GenerationParams", "InputError", "MissingPackageError",
    "ModelError", "TextStream", "UnknownModelError", "parse", "resolve",
]
