"""Microsoft's published response schemas, read from the installed azure-mgmt packages' own
generated models, and a check of JSON bodies against them.

Microsoft generates each package's models from its OpenAPI (or TypeSpec) specification, so a
model class is the schema of the api-version that package sends. The installed packages come
from two generators, and both are read:

* msrest-style models (azure-mgmt-maintenance, -resourcegraph, -resource-features): wire
  names and types in ``_attribute_map`` (dotted keys are flattened ``properties.*``), required
  fields in ``_validation``, enums named in the ``:vartype`` of the docstring;
* TypeSpec models (azure-mgmt-compute, -hybridcompute, -resource): ``rest_field``
  descriptors for wire names, type annotations for types, enums and which fields are
  required (a field whose annotation does not admit None).

Enums are the ``CaseInsensitiveEnumMeta`` classes of the package's models module, compared
case-insensitively as the SDK does.
"""

from __future__ import annotations

import datetime
import enum
import importlib
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ForwardRef

_ISO_8601 = re.compile(
    r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$", re.IGNORECASE
)
_MSREST_SCALARS = {
    "str": "string",
    "int": "integer",
    "long": "integer",
    "float": "number",
    "bool": "boolean",
    "iso-8601": "datetime",
    "rfc-1123": "string",
    "date": "datetime",
    "duration": "string",
    "unix-time": "integer",
    "bytearray": "string",
    "base64": "string",
    "object": "any",
}
_PY_SCALARS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    datetime.datetime: "datetime",
    datetime.date: "datetime",
    datetime.timedelta: "string",
    bytes: "string",
    Any: "any",
    object: "any",
}
_VARTYPE = re.compile(r":vartype (\w+):((?:.|\n(?!\s*:))*)")
_MODEL_REF = re.compile(r"~[\w.]+\.(\w+)")


@dataclass(frozen=True)
class Shape:
    """What a JSON value must look like: a kind, and for objects the model whose fields it
    has (or, for the parts a generator flattens or a test declares, the fields themselves)."""

    kind: str  # object, array, map, enum, string, integer, number, boolean, datetime, any
    model: type | None = None
    fields: Mapping[str, Field] | None = None
    item: Shape | None = None
    values: frozenset[str] = frozenset()  # an enum's declared values, lower-cased
    name: str = ""  # for messages: the model or enum name

    def describe(self) -> str:
        return self.name or self.kind


@dataclass(frozen=True)
class Field:
    shape: Shape
    required: bool = False


@dataclass(frozen=True)
class Deviation:
    """Where a body departs from its schema: ``owner`` is the model (or enum) the problem is
    in and ``member`` the property, wherever that model appears; ``path`` says where in this
    body (``[]`` for any item of an array, ``{}`` for any value of a map)."""

    kind: str  # undeclared, missing, enum, type
    owner: str
    member: str
    path: str = field(compare=False)
    detail: str = field(compare=False, default="")

    def __str__(self) -> str:
        return f"{self.kind} {self.owner}.{self.member} at {self.path or '(body)'}: {self.detail}"


def model(cls: type) -> Shape:
    """The shape of a generated model class."""
    return Shape("object", model=cls, name=cls.__name__)


def obj(fields: Mapping[str, Field], name: str) -> Shape:
    """An object whose fields are given (what no generated model describes)."""
    return Shape("object", fields=dict(fields), name=name)


def fields_of(cls: type) -> Mapping[str, Field]:
    """A model's fields by wire name."""
    return _fields(cls)


def open_to_more(cls: type) -> bool:
    """Whether the model accepts properties it does not declare (msrest's
    ``additional_properties``)."""
    attribute_map = getattr(cls, "_attribute_map", None)
    return bool(attribute_map) and any(v["key"] == "" for v in attribute_map.values())


# --- checking ----------------------------------------------------------------------------------


def check(
    value: Any, shape: Shape, path: str = "", owner: str = "", member: str = ""
) -> Iterator[Deviation]:
    """Every way ``value`` (``owner``'s ``member``, at ``path``) departs from ``shape``."""
    if value is None:
        return
    kind = shape.kind
    if kind == "any":
        return
    if kind == "object":
        yield from _check_object(value, shape, path, owner, member)
    elif kind in ("array", "map"):
        yield from _check_collection(value, shape, path, owner, member)
    elif kind == "enum":
        if not isinstance(value, str) or value.lower() not in shape.values:
            allowed = ", ".join(sorted(shape.values))
            detail = f"{value!r} is not one of {shape.name} ({allowed})"
            yield Deviation("enum", owner, member, path, detail)
    elif not _is_scalar(value, kind):
        yield Deviation("type", owner, member, path, f"{value!r} is not {kind}")


def _check_object(
    value: Any, shape: Shape, path: str, owner: str, member: str
) -> Iterator[Deviation]:
    if not isinstance(value, dict):
        detail = f"{type(value).__name__} is not an object ({shape.name})"
        yield Deviation("type", owner, member, path, detail)
        return
    cls = _subtype(shape.model, value) if shape.model is not None else None
    fields = shape.fields if cls is None else _fields(cls)
    assert fields is not None
    name = cls.__name__ if cls is not None else shape.name
    is_open = cls is not None and open_to_more(cls)
    for key, item in value.items():
        item_path = f"{path}.{key}" if path else key
        declared = fields.get(key)
        if declared is None:
            if not is_open:
                yield Deviation("undeclared", name, key, item_path, f"not a property of {name}")
            continue
        yield from check(item, declared.shape, item_path, name, key)
    for key, declared in fields.items():
        if declared.required and value.get(key) is None:
            item_path = f"{path}.{key}" if path else key
            yield Deviation("missing", name, key, item_path, f"{name} requires it")


def _check_collection(
    value: Any, shape: Shape, path: str, owner: str, member: str
) -> Iterator[Deviation]:
    assert shape.item is not None
    if shape.kind == "array":
        if not isinstance(value, list):
            detail = f"{type(value).__name__} is not an array"
            yield Deviation("type", owner, member, path, detail)
            return
        for item in value:
            yield from check(item, shape.item, f"{path}[]", owner, member)
        return
    if not isinstance(value, dict):
        yield Deviation("type", owner, member, path, f"{type(value).__name__} is not a map")
        return
    for item in value.values():
        yield from check(item, shape.item, f"{path}{{}}", owner, member)


def _is_scalar(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "datetime":
        return isinstance(value, str) and _ISO_8601.match(value) is not None
    raise AssertionError(f"unknown kind {kind}")


# --- reading the generated models -----------------------------------------------------------------


@cache
def _fields(cls: type) -> Mapping[str, Field]:
    if hasattr(cls, "_attribute_map"):
        return _msrest_fields(cls)
    return _typespec_fields(cls)


def _models_module(cls: type) -> types.ModuleType:
    """The package's ``models`` module, where the names a model refers to are defined."""
    package = cls.__module__.rsplit(".", 1)[0]
    return importlib.import_module(package)


def _named(cls: type, name: str) -> Shape:
    """A model or enum of ``cls``'s package, by name."""
    target = getattr(_models_module(cls), name)
    if isinstance(target, type) and issubclass(target, enum.Enum):
        values = frozenset(str(member.value).lower() for member in target)
        return Shape("enum", values=values, name=target.__name__)
    return model(target)


def _subtype(cls: type | None, value: dict[str, Any]) -> type | None:
    """The subclass a polymorphic model's discriminator picks, else the model itself."""
    if cls is None:
        return None
    subtypes: Mapping[str, Mapping[str, str]] = getattr(cls, "_subtype_map", None) or {}
    for attribute, mapping in subtypes.items():
        wire = cls._attribute_map[attribute]["key"]  # type: ignore[attr-defined]
        chosen = mapping.get(str(value.get(wire)))
        if chosen:
            subclass: type = getattr(_models_module(cls), chosen)
            return subclass
    mapping_by_value: Mapping[str, type] = getattr(cls, "__mapping__", None) or {}
    discriminator = next(
        (rf for rf in _rest_fields(cls).values() if getattr(rf, "_is_discriminator", False)),
        None,
    )
    if discriminator is not None and mapping_by_value:
        return mapping_by_value.get(str(value.get(_wire_name(discriminator, ""))), cls)
    return cls


# msrest-style -------------------------------------------------------------------------------------


def _msrest_fields(cls: type) -> Mapping[str, Field]:
    attribute_map: Mapping[str, Mapping[str, str]] = cls._attribute_map  # type: ignore[attr-defined]
    validation: Mapping[str, Mapping[str, bool]] = getattr(cls, "_validation", {})
    enums = _docstring_enums(cls)
    tree: dict[str, Any] = {}
    for attribute, spec in attribute_map.items():
        if spec["key"] == "":
            continue  # additional properties: see open_to_more
        shape = _msrest_shape(cls, spec["type"], enums.get(attribute))
        required = bool(validation.get(attribute, {}).get("required"))
        path = [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", spec["key"])]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = Field(shape, required)
    return _flattened(tree, cls.__name__)


def _flattened(tree: dict[str, Any], name: str) -> dict[str, Field]:
    """msrest flattens ``properties.x`` into the model; on the wire it is an object again."""
    return {
        key: value
        if isinstance(value, Field)
        else Field(obj(_flattened(value, f"{name}.{key}"), f"{name}.{key}"))
        for key, value in tree.items()
    }


def _msrest_shape(cls: type, type_name: str, enum_name: str | None) -> Shape:
    if type_name.startswith("[") and type_name.endswith("]"):
        return Shape("array", item=_msrest_shape(cls, type_name[1:-1], enum_name))
    if type_name.startswith("{") and type_name.endswith("}"):
        return Shape("map", item=_msrest_shape(cls, type_name[1:-1], enum_name))
    if type_name == "str" and enum_name:
        return _named(cls, enum_name)
    if type_name in _MSREST_SCALARS:
        return Shape(_MSREST_SCALARS[type_name])
    return _named(cls, type_name)


def _docstring_enums(cls: type) -> dict[str, str]:
    """The enum each attribute's ``:vartype`` names (msrest declares enums as ``str``)."""
    found: dict[str, str] = {}
    module = _models_module(cls)
    for klass in cls.__mro__:
        for attribute, text in _VARTYPE.findall(klass.__doc__ or ""):
            for name in _MODEL_REF.findall(text):
                target = getattr(module, name, None)
                if isinstance(target, type) and issubclass(target, enum.Enum):
                    found.setdefault(attribute, name)
    return found


# TypeSpec-style ------------------------------------------------------------------------------------


def _rest_fields(cls: type) -> dict[str, Any]:
    """The ``rest_field`` descriptors of a model and its bases, by attribute name."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for attribute, value in vars(klass).items():
            if not attribute.startswith("_") and hasattr(value, "_rest_name_input"):
                found[attribute] = value
    return found


def _wire_name(rest_field: Any, attribute: str) -> str:
    return str(rest_field._rest_name_input or attribute)


def _typespec_fields(cls: type) -> Mapping[str, Field]:
    annotations: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(vars(klass).get("__annotations__", {}))
    result: dict[str, Field] = {}
    for attribute, rest_field in _rest_fields(cls).items():
        annotation = annotations.get(attribute, Any)
        optional, inner = _strip_optional(annotation)
        result[_wire_name(rest_field, attribute)] = Field(
            _annotation_shape(cls, inner), required=not optional
        )
    return result


def _strip_optional(annotation: Any) -> tuple[bool, Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = tuple(a for a in args if a is not type(None))
        optional = len(rest) != len(args)
        return optional, rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
    return False, annotation


def _annotation_shape(cls: type, annotation: Any) -> Shape:
    if isinstance(annotation, (str, ForwardRef)):
        text = annotation if isinstance(annotation, str) else annotation.__forward_arg__
        return _named(cls, text.removeprefix("_models."))
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        # Union[str, "_models.SomeEnum"]: an extensible enum
        refs = [a for a in args if isinstance(a, (str, ForwardRef))]
        return _annotation_shape(cls, refs[0]) if refs else Shape("any")
    if origin is list:
        return Shape("array", item=_annotation_shape(cls, args[0]))
    if origin is dict:
        return Shape("map", item=_annotation_shape(cls, args[1]))
    if origin is typing.Literal:
        return Shape("enum", values=frozenset(str(a).lower() for a in args), name="Literal")
    if annotation in _PY_SCALARS:
        return Shape(_PY_SCALARS[annotation])
    if isinstance(annotation, type):
        return model(annotation)
    return Shape("any")
