"""extract() and its dispatch table (graph/slots/__init__.py)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.schema import SlotKind
from graph.slots import EXTRACTORS, Said, SlotValue, extract, keys_complete
from tests.graph.slots.helpers import NOW, any_text, instants, offer_lists, value


def test_every_slot_kind_has_an_extractor() -> None:
    assert set(EXTRACTORS) == set(SlotKind)
    assert all(callable(reader) for reader in EXTRACTORS.values())


def test_extractors_read_what_was_said_directly() -> None:
    assert EXTRACTORS[SlotKind.YES_NO](Said("no", NOW)) == SlotValue("no", "no")
    assert EXTRACTORS[SlotKind.DIGITS](Said("", NOW, keys="42")) == SlotValue("42", "4 2")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        extract("colour", "blue", now=NOW)


def test_kind_may_be_a_plain_string() -> None:
    assert value("yes_no", "yes") == "yes"  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(SlotKind)), text=any_text, dtmf=st.text("0123456789*#", max_size=12), now=instants, offers=offer_lists)
def test_extract_never_raises(kind: SlotKind, text: str, dtmf: str, now: datetime, offers: list[datetime]) -> None:
    found = extract(kind, text, dtmf=dtmf, now=now, offers=offers)
    assert found is None or (isinstance(found, SlotValue) and found.value and found.spoken)


@pytest.mark.parametrize(("kind", "keys", "complete"), [
    (SlotKind.YES_NO, "1", True),
    (SlotKind.DATE_OF_BIRTH, "0303198", False),
    (SlotKind.DATE_OF_BIRTH, "03031985", True),
    (SlotKind.PHONE, "555010203", False),
    (SlotKind.PHONE, "5550102030", True),
    (SlotKind.PHONE, "1555010203", False),  # ten keys starting with 1: the country code of eleven
    (SlotKind.PHONE, "15550102030", True),
    (SlotKind.DIGITS, "12345678901234", False),  # open length: the pause or # ends it
    (SlotKind.NAME, "1", False),
])
def test_keys_complete_when_no_further_key_could_change_the_value(kind: SlotKind, keys: str, complete: bool) -> None:
    assert keys_complete(kind, keys) is complete
    if complete and kind is not SlotKind.YES_NO:  # the keys that complete an entry make a value
        assert extract(kind, "", dtmf=keys, now=NOW) is not None
