"""graph/validate/schema_paths.py: a pydantic loc, walked along GraphSpec, gives the path in the
file (union member names dropped) and the model and field the message quotes."""

from __future__ import annotations

from graph.schema import GraphSettings, Say, TransferAction
from graph.validate.schema_paths import resolve


def test_a_plain_union_member_is_not_a_key_in_the_file() -> None:
    loc = resolve(("nodes", 0, "say", "neutral", "str"))
    assert loc.path == ("nodes", "0", "say", "neutral")
    assert (loc.owner, loc.field, loc.expected) == (Say, "neutral", str)
    assert loc.union == (("nodes", "0", "say", "neutral"), "str") and not loc.is_key


def test_a_tagged_union_member_names_the_model_but_no_key() -> None:
    loc = resolve(("nodes", 0, "actions", 0, "transfer", "to"))
    assert loc.path == ("nodes", "0", "actions", "0", "to")
    assert (loc.owner, loc.field, loc.union) == (TransferAction, "to", None)


def test_a_field_and_a_mapping_key() -> None:
    loc = resolve(("settings", "match_threshold"))
    assert (loc.path, loc.owner, loc.field, loc.expected) == (("settings", "match_threshold"), GraphSettings, "match_threshold", float)
    assert resolve(("clinic", "hours", "[key]")).is_key
