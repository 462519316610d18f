"""The one loader for every typed config (training, evaluation, search, study): a mapping from YAML, the UI or
the CLI becomes a dataclass, with unknown fields ("did you mean") and wrong types refused by field name.

Types come from the dataclass annotations: `int` takes an integer (8, 8.0 or "8"; never 8.7 or true), `float`
a number, `bool` true/false, `str` text, `list[str]` a list (or one string, read as a one-element list where
the dataclass splits it), a nested dataclass a mapping (checked the same way, its fields named `outer.inner`).
`X | None` also takes null. Anything the annotation does not describe passes through unchanged."""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing

from errors import ConfigError


def build(cls, spec, where: str = "config", shorthand: dict | None = None, prefix: str = ""):
    """`cls(**spec)` after checking every key and value; `where` starts the messages (a file, or the enclosing
    field), `prefix` names nested fields (method.rank). `shorthand` maps a nested dataclass field to the field a
    bare string fills in (method: lora → method: {name: lora})."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {_kind(spec)}")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in spec:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            raise ConfigError(f"{where}: unknown field {key!r}." + (f" Did you mean {close[0]!r}?" if close else ""))
    hints = typing.get_type_hints(cls)
    values = {key: coerce(value, hints[key], prefix + key, (shorthand or {}).get(key)) for key, value in spec.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def coerce(value, annotation, name: str, shorthand: str | None = None):
    """`value` as the annotated type, or a ConfigError that names the field, the value and what was expected."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return coerce(value, options[0], name, shorthand)
        for option in options:  # e.g. list[str] | str: the first that takes the value
            try:
                return coerce(value, option, name, shorthand)
            except ConfigError:
                continue
        raise ConfigError(f"{name}: {value!r} is not {' or '.join(_describe(o) for o in options)}")
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if isinstance(value, str) and shorthand:
            value = {shorthand: value}
        return build(annotation, value, name, prefix=name + ".")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}: {value!r} is not true or false")
    if annotation is int:
        return _integer(value, name)
    if annotation is float:
        return _number(value, name)
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # a numeric name or split (YAML reads 2024 as a number)
        raise ConfigError(f"{name}: {value!r} is not text")
    if typing.get_origin(annotation) is list:
        if isinstance(value, str):
            return value  # "a, b": the dataclass splits it (the UI's text boxes, a YAML string)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: {value!r} is not a list")
        item = args[0] if args else typing.Any
        if item is str and any(isinstance(v, bool) for v in value):
            return list(value)  # [no, yes] unquoted: the dataclass explains YAML's booleans in its own words
        return [coerce(v, item, f"{name}[{i}]") for i, v in enumerate(value)]
    return value


def _integer(value, name: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name}: {value!r} is not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ConfigError(f"{name}: {value!r} is not a whole number")
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{name}: {value!r} is not a whole number")


def _number(value, name: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name}: {value!r} is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{name}: {value!r} is not a number")


def _describe(annotation) -> str:
    if typing.get_origin(annotation) is list:
        return "a list"
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(
        annotation, getattr(annotation, "__name__", str(annotation)))


def _kind(value) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"
