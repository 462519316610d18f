"""The one loader for every typed config (training, evaluation, search, study): a mapping from YAML, the UI or
the CLI becomes a dataclass, with unknown fields ("did you mean") and wrong types refused by field name.

Types come from the dataclass annotations: `int` takes an integer (8, 8.0 or "8"; never 8.7 or true), `float`
a number, `bool` true/false, `str` text, `list[str]` a list (or one string, read as a one-element list where
the dataclass splits it), a nested dataclass a mapping (checked the same way, its fields named `outer.inner`).
`X | None` also takes null. Anything the annotation does not describe passes through unchanged.

Each field may also carry what a page and a check need to know about it, as `field(metadata=describe(...))`: its
label, a one-line help, its limits and choices. `field_info(cls)` reads them back as FieldInfo, and
`check_fields(config)` checks every field against them, so each range is written once: forms take their labels,
defaults and bounds from there, and the configs' own `check()` their messages."""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass

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


# -- field metadata: labels, help and limits -------------------------------------------------------------------
def describe(label: str, help: str, *, short: str | None = None, minimum: float | None = None,
             maximum: float | None = None, exclusive_minimum: float | None = None,
             exclusive_maximum: float | None = None, typical: str = "", choices=None, zero_is_none: bool | None = None,
             form_id: str | None = None, placeholder: str | None = None) -> dict:
    """A field's metadata (`field(default=8, metadata=describe("LoRA rank", "...", minimum=1, maximum=4096))`).

    `label` is what a page shows, `short` what a sentence calls the field (the label by default). The limits read
    as in JSON Schema (inclusive `minimum`/`maximum`, `exclusive_*` bounds); `typical` ends a limit's message.
    `choices` is anything that lists the allowed names (a tuple, or a registry dict, read when checked).
    `zero_is_none`: 0 or an empty box on a form means "not set" (default: for every optional number). `form_id`
    names the form's input where the field name with dashes does not; `placeholder` is what an empty box shows."""
    given = dict(label=label, help=help, short=short, minimum=minimum, maximum=maximum,
                 exclusive_minimum=exclusive_minimum, exclusive_maximum=exclusive_maximum, typical=typical,
                 choices=choices, zero_is_none=zero_is_none, form_id=form_id, placeholder=placeholder)
    return {key: value for key, value in given.items() if value is not None and value != ""}


@dataclass(frozen=True)
class FieldInfo:
    """One config field as a form or a check sees it: its type and default, its words, its limits."""

    name: str
    type: object  # the annotation without None: int, float, bool, str, list[str], a union, a dataclass
    optional: bool  # the annotation takes None
    default: object  # dataclasses.MISSING for a required field
    label: str
    short: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    typical: str = ""
    choices: tuple | None = None
    zero_is_none: bool = False
    form_id: str = ""
    placeholder: str | None = None

    @property
    def whole(self) -> bool:
        return self.type is int

    @property
    def number(self) -> bool:
        return self.type in (int, float)

    @property
    def limits(self) -> str:
        """The limits in words ("at least 1", "positive", "between 1 and 4096", "in [0, 1)"); "" without any."""
        low = self.minimum if self.minimum is not None else self.exclusive_minimum
        high = self.maximum if self.maximum is not None else self.exclusive_maximum
        if low is not None and high is not None:
            if self.minimum is not None and self.maximum is not None:
                return f"between {low:g} and {high:g}"
            opening, closing = "[" if self.minimum is not None else "(", "]" if self.maximum is not None else ")"
            return f"in {opening}{low:g}, {high:g}{closing}"
        if low is not None:
            if self.minimum is not None:
                return f"at least {low:g}"
            return "positive" if low == 0 else f"above {low:g}"
        if high is not None:
            return f"at most {high:g}" if self.maximum is not None else f"below {high:g}"
        return ""

    def within(self, value) -> bool:
        """Whether a number keeps to the limits (NaN keeps to none)."""
        x = float(value)
        return ((self.minimum is None or x >= self.minimum) and (self.maximum is None or x <= self.maximum)
                and (self.exclusive_minimum is None or x > self.exclusive_minimum)
                and (self.exclusive_maximum is None or x < self.exclusive_maximum))

    def check(self, value, prefix: str = "") -> None:
        """ConfigError naming the field (`method.rank must be between 1 and 4096 (got 0).`) when the value is not
        one of the choices or breaks a limit; None (not set) passes."""
        name = prefix + self.name
        if value is None:
            return
        picked = value if isinstance(value, list) and typing.get_origin(self.type) is list else [value]
        for one in picked if self.choices is not None else ():  # a list field: each of its names is a choice
            if one not in self.choices:
                close = difflib.get_close_matches(str(one), [str(c) for c in self.choices], n=1)
                raise ConfigError(f"{name} {one!r} is not one of {', '.join(map(str, self.choices))}."
                                  + (f" Did you mean {close[0]!r}?" if close else ""))
        if self.limits and not self.within(value):
            when = " when set" if self.optional else ""
            typical = f"; typical: {self.typical}" if self.typical else ""
            raise ConfigError(f"{name} must be {self.limits}{when} (got {value}){typical}.")


def field_info(cls) -> dict[str, FieldInfo]:
    """Every field of a config dataclass, in order, with its metadata (a field without any gets its name as label)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        annotation, optional = hints[f.name], False
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
            optional = True
            rest = [a for a in args if a is not type(None)]
            annotation = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        label = meta.get("label", f.name)
        choices = meta.get("choices")
        out[f.name] = FieldInfo(
            name=f.name, type=annotation, optional=optional, default=default, label=label,
            short=meta.get("short", label), help=meta.get("help", ""), minimum=meta.get("minimum"),
            maximum=meta.get("maximum"), exclusive_minimum=meta.get("exclusive_minimum"),
            exclusive_maximum=meta.get("exclusive_maximum"), typical=meta.get("typical", ""),
            choices=tuple(choices) if choices is not None else None,
            zero_is_none=meta.get("zero_is_none", optional and annotation in (int, float)),
            form_id=meta.get("form_id", f.name.replace("_", "-")), placeholder=meta.get("placeholder"))
    return out


def check_fields(config, prefix: str = "", skip=()) -> None:
    """Every field of `config` against its metadata's choices and limits; ConfigError names the first one out."""
    for name, info in field_info(type(config)).items():
        if name not in skip:
            info.check(getattr(config, name), prefix)
