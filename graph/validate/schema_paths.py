"""Where a pydantic error is, both in the file and in :class:`~graph.schema.GraphSpec`.

A pydantic loc names union members (``str``, ``list[str]``, ``transfer``) that are not keys in
the file, and says nothing of what was allowed there. Walking the schema along the loc gives
the file path to point at, and the model, field and type that the message can quote."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from graph.schema import GraphSpec
from graph.yaml_source import KeyPath


@dataclass(frozen=True)
class Loc:
    """Where a pydantic error is, in the data and in the schema."""

    path: KeyPath  # keys and indexes in the file (union tags removed)
    owner: type[BaseModel] | None  # the model whose field the path last entered
    field: str | None  # that field's name
    expected: Any  # the type expected at the end of the loc (None if unknown)
    union: tuple[KeyPath, str] | None  # a plain union split here (path, member tag), e.g. str | list[str]
    is_key: bool  # the error is about a mapping key, not its value


def unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional: pydantic adds neither to an error's loc."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif is_union(tp) and len(members := [a for a in get_args(tp) if a is not type(None)]) == 1:
            tp = members[0]
        else:
            return tp


def is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _tag(tp: Any) -> str:
    """The name pydantic gives a union member in a loc: 'str', 'list[str]', 'Say'."""
    origin = get_origin(tp)
    if origin is None:
        return str(getattr(tp, "__name__", tp))
    return f"{getattr(origin, '__name__', origin)}[{', '.join(_tag(a) for a in get_args(tp))}]"


def discriminator_values(member: Any, field: str) -> list[str]:
    """The tags a tagged-union member answers to (``transfer`` for an action's ``type``)."""
    if not is_model(member) or field not in member.model_fields:
        return []
    return [str(v) for v in get_args(unwrap(member.model_fields[field].annotation))]


def union_members(tp: Any) -> list[Any]:
    return [unwrap(a) for a in get_args(tp) if a is not type(None)]


def _member(tp: Any, tag: str) -> tuple[Any, bool] | None:
    """The union member a loc element names, and whether it was a plain union (named by type)."""
    for member in union_members(tp):
        if _tag(member) == tag:
            return member, True
        if tag in discriminator_values(member, "type"):
            return member, False
    return None


def resolve(loc: tuple[Any, ...]) -> Loc:
    """Walk GraphSpec along a pydantic loc: tags of unions are not keys in the file, and the
    model at the end tells which keys were allowed there."""
    tp: Any = GraphSpec
    path: list[str] = []
    owner: type[BaseModel] | None = None
    field: str | None = None
    union: tuple[KeyPath, str] | None = None
    is_key, key_type = False, None
    for raw in loc:
        element = str(raw)
        tp = unwrap(tp) if tp is not None else None
        if element == "[key]":
            is_key, tp = True, key_type
            continue
        if is_model(tp):
            owner, field = tp, element
            path.append(element)
            info = tp.model_fields.get(element)
            tp = info.annotation if info else None
        elif is_union(tp) and (found := _member(tp, element)) is not None:
            tp, plain = found
            if plain:
                union = (tuple(path), element)
        elif get_origin(tp) is list:
            path.append(element)
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            path.append(element)
            key_type, tp = get_args(tp)
        else:
            path.append(element)
            tp = None
    return Loc(tuple(path), owner, field, unwrap(tp) if tp is not None else None, union, is_key)
