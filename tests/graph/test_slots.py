"""Slot extraction from tiny.en-style transcripts and keypad digits (graph/slots.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.schema import SlotKind
from graph.slots import SlotValue, extract, read_numbers, strip_leading_filler, tokens, words_to_number

NOW = datetime(2026, 12, 1, 10, 15)  # a Tuesday
OFFERS = (datetime(2026, 12, 2, 9, 0), datetime(2026, 12, 2, 9, 20), datetime(2026, 12, 3, 14, 0))


def value(kind: SlotKind, text: str, *, dtmf: str = "", now: datetime = NOW, offers: tuple[datetime, ...] = ()) -> str | None:
    found = extract(kind, text, dtmf=dtmf, now=now, offers=offers)
    return None if found is None else found.value


# --- the shared number parser ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, number",
    [
        ("twenty three", 23),
        ("twenty-three", 23),
        ("nineteen eighty five", 1985),
        ("nineteen eighty-five", 1985),
        ("two thousand and one", 2001),
        ("two thousand twenty five", 2025),
        ("twenty twenty five", 2025),
        ("nineteen oh two", 1902),
        ("nineteen hundred and eighty five", 1985),
        ("oh two", 2),
        ("zero", 0),
        ("one hundred", 100),
        ("three hundred and twelve", 312),
        ("first", 1),
        ("third", 3),
        ("twelfth", 12),
        ("twentieth", 20),
        ("twenty third", 23),
        ("thirty first", 31),
        ("1985", 1985),
        ("3rd", 3),
        ("march", None),
        ("twenty apples", None),
        ("", None),
    ],
)
def test_words_to_number(text: str, number: int | None) -> None:
    assert words_to_number(text) == number


def test_numbers_keep_the_digits_as_said() -> None:
    items = read_numbers(tokens("five five five oh one, 12"))
    assert [getattr(i, "digits", i) for i in items] == ["5", "5", "5", "01", "12"]


def test_oh_is_a_word_unless_next_to_a_number() -> None:
    assert read_numbers(tokens("Oh, it's Maria")) == ["oh", "it's", "maria"]
    assert [getattr(i, "digits", i) for i in read_numbers(tokens("nine oh five"))] == ["9", "05"]


def test_tokens_normalise_case_meridiem_and_apostrophes() -> None:
    assert tokens("At 3 P.M., I’m free") == ["at", "3", "pm", "i'm", "free"]
    assert tokens("9:30 a.m.") == ["9:30", "am"]
    assert tokens("03/03/1985 and 3-3-85") == ["03/03/1985", "and", "3-3-85"]
    assert tokens("(555) 123-4567") == ["555", "123", "4567"]


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("Um, yeah so I need a refill.", "I need a refill."),
        ("uh, uh, my knee hurts", "my knee hurts"),
        ("Okay, well, it's about my bill", "it's about my bill"),
        ("Yeah.", "Yeah."),
        ("hmm", ""),
        ("", ""),
    ],
)
def test_strip_leading_filler(text: str, cleaned: str) -> None:
    assert strip_leading_filler(text) == cleaned


# --- name --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, name",
    [
        ("My name is Maria Lopez", "Maria Lopez"),
        ("My name is Maria Lopez.", "Maria Lopez"),
        ("it's john smith", "John Smith"),
        ("Maria Lopez.", "Maria Lopez"),
        ("maria lopez", "Maria Lopez"),
        ("MARIA LOPEZ", "Maria Lopez"),
        ("this is Dr. Jane Foster", "Jane Foster"),
        ("This is Doctor Jane Foster speaking.", "Jane Foster"),
        ("um yeah it's Anne-Marie O'Brien", "Anne-Marie O'Brien"),
        ("It’s anne-marie o’brien.", "Anne-Marie O'Brien"),
        ("Hi, this is Maria Lopez calling about my appointment.", "Maria Lopez"),
        ("My name is Maria Lopez and I'd like to book an appointment", "Maria Lopez"),
        ("Yeah hi, I'm calling for my mum, her name is Rose Tyler.", "Rose Tyler"),
        ("The patient's name is James McDonald.", "James McDonald"),
        ("You can call me Bill.", "Bill"),
        ("I'm Will.", "Will"),
        ("Sure, my name's Grace Hopper", "Grace Hopper"),
        ("my first name is Maria and my last name is Lopez", "Maria Lopez"),
        ("It's Maria, Maria Lopez.", "Maria Lopez"),
        ("John A. Smith", "John A Smith"),
        ("José García", "José García"),
        ("maria de la cruz", "Maria de la Cruz"),
        ("John", "John"),
        ("Mrs. Patel", "Patel"),
        ("Maria Lopez here", "Maria Lopez"),
        ("Lopez, L-O-P-E-Z", "Lopez"),
    ],
)
def test_name(text: str, name: str) -> None:
    assert extract(SlotKind.NAME, text, now=NOW) == SlotValue(name, name)


@pytest.mark.parametrize(
    "text",
    [
        "I want to book an appointment",
        "I don't know",
        "I'm not sure.",
        "It's about my prescription.",
        "Can you repeat that?",
        "Sorry, what?",
        "Yes.",
        "No.",
        "Hello?",
        "um",
        "",
        "   ",
        "My name is",
        "Maria wants to book",
        "I need to talk to a nurse",
        "It's for my mother",
        "5551234567",
        "My name is Maria Del Carmen Lopez Garcia",  # more than four words
        "Tomorrow at 3 pm",
    ],
)
def test_not_a_name(text: str) -> None:
    assert extract(SlotKind.NAME, text, now=NOW) is None


# --- date of birth -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, born",
    [
        ("March 3rd 1985", "1985-03-03"),
        ("March 3rd, 1985.", "1985-03-03"),
        ("March 3, 1985.", "1985-03-03"),
        ("3rd of March 1985", "1985-03-03"),
        ("the 3rd of March, 1985", "1985-03-03"),
        ("the third of march nineteen eighty five", "1985-03-03"),
        ("March the third, nineteen eighty-five", "1985-03-03"),
        ("Um, it's March the 3rd, 1985.", "1985-03-03"),
        ("born on March 3rd, 1985", "1985-03-03"),
        ("03/03/1985", "1985-03-03"),
        ("3/3/1985", "1985-03-03"),
        ("3-3-85", "1985-03-03"),
        ("3.3.85", "1985-03-03"),
        ("12/25/1985", "1985-12-25"),
        ("1985-03-03", "1985-03-03"),
        ("3 3 1985", "1985-03-03"),
        ("oh three oh three nineteen eighty five", "1985-03-03"),
        ("zero three zero three one nine eight five", "1985-03-03"),
        ("twenty third of june nineteen seventy", "1970-06-23"),
        ("June twenty third, nineteen seventy", "1970-06-23"),
        ("March twenty third, two thousand and one", "2001-03-23"),
        ("July 4th, '76", "1976-07-04"),
        ("the first of january nineteen oh seven", "1907-01-01"),
        ("May 5th, 2010", "2010-05-05"),
        ("Feb 29 2000", "2000-02-29"),
        ("Dec 31st 1999", "1999-12-31"),
        ("11/30/26", "2026-11-30"),  # yesterday: two-digit year in the past -> 20xx
        ("12-1-26", "1926-12-01"),  # today in 2026 is not past -> 19xx
        ("5/6/07", "2007-05-06"),
    ],
)
def test_date_of_birth(text: str, born: str) -> None:
    assert value(SlotKind.DATE_OF_BIRTH, text) == born


def test_date_of_birth_spoken_back() -> None:
    assert extract(SlotKind.DATE_OF_BIRTH, "3-3-85", now=NOW) == SlotValue("1985-03-03", "March 3rd, 1985")


@pytest.mark.parametrize(
    "text",
    [
        "February 30th 1990",  # not a real date
        "February 29th 2001",
        "13/01/1985",  # US order: no 13th month
        "March 3rd 2030",  # future
        "December 1st 2026",  # today is not in the past
        "January 1st 1900",  # over 120
        "March 3rd",  # no year
        "March 1985",
        "I don't know",
        "may I ask why",
        "",
        "oh",
    ],
)
def test_not_a_date_of_birth(text: str) -> None:
    assert value(SlotKind.DATE_OF_BIRTH, text) is None


def test_date_of_birth_keypad() -> None:
    assert value(SlotKind.DATE_OF_BIRTH, "", dtmf="03031985") == "1985-03-03"
    assert value(SlotKind.DATE_OF_BIRTH, "", dtmf="0303198#") is None  # 7 digits
    assert value(SlotKind.DATE_OF_BIRTH, "", dtmf="02301990") is None
    assert value(SlotKind.DATE_OF_BIRTH, "March 3rd 1985", dtmf="12") == "1985-03-03"  # bad keys: the words


# --- appointment time: what the caller asks for ------------------------------------------------


@pytest.mark.parametrize(
    "text, when",
    [
        ("tomorrow at 3 pm", "2026-12-02T15:00"),
        ("Tomorrow at 3 P.M.", "2026-12-02T15:00"),
        ("tomorrow at 3pm", "2026-12-02T15:00"),
        ("next Tuesday morning", "2026-12-08T09:00"),
        ("Tuesday", "2026-12-08T09:00"),  # today is Tuesday: the next one
        ("Monday at 10", "2026-12-07T10:00"),
        ("Monday at ten", "2026-12-07T10:00"),
        ("December 4th at 2:30", "2026-12-04T14:30"),
        ("the 4th of December at 2:30 pm", "2026-12-04T14:30"),
        ("this afternoon", "2026-12-01T14:00"),
        ("this evening", "2026-12-01T17:00"),
        ("um can I come in tomorrow morning", "2026-12-02T09:00"),
        ("How about Friday at ten thirty?", "2026-12-04T10:30"),
        ("at 3", "2026-12-01T15:00"),  # 1-6 are PM; today is still ahead
        ("at 9", "2026-12-02T09:00"),  # passed today -> tomorrow
        ("today", "2026-12-01T11:00"),  # 09:00 passed -> next full hour
        ("the day after tomorrow at 4", "2026-12-03T16:00"),
        ("next week", "2026-12-07T09:00"),
        ("next week Thursday afternoon", "2026-12-10T14:00"),
        ("the 4th at 11am", "2026-12-04T11:00"),
        ("January 5th", "2027-01-05T09:00"),  # passed this year? no: Jan is next year
        ("November 3rd", "2027-11-03T09:00"),
        ("in two weeks", "2026-12-15T09:00"),
        ("in 3 days", "2026-12-04T09:00"),
        ("half past two tomorrow", "2026-12-02T14:30"),
        ("quarter to ten on Monday", "2026-12-07T09:45"),
        ("7 in the evening tomorrow", "2026-12-02T19:00"),
        ("tomorrow at 8 in the morning", "2026-12-02T08:00"),
        ("at noon on Wednesday", "2026-12-02T12:00"),
        ("Monday the 7th at nine oh five", "2026-12-07T09:05"),
        ("Thursday at 14:30", "2026-12-03T14:30"),
        ("the one o'clock one", "2026-12-01T13:00"),
        ("Friday afternoon at 4", "2026-12-04T16:00"),
        ("Wednesday 9:30 a.m.", "2026-12-02T09:30"),
        ("first thing tomorrow", "2026-12-02T09:00"),
        ("December 4th 10 30", "2026-12-04T10:30"),
        ("December 4th, 2026 at 10", "2026-12-04T10:00"),
    ],
)
def test_requested_time(text: str, when: str) -> None:
    assert value(SlotKind.DATETIME, text) == when


def test_requested_time_is_read_back_in_full() -> None:
    found = extract(SlotKind.DATETIME, "Wednesday at 9:30", now=NOW)
    assert found == SlotValue("2026-12-02T09:30", "Wednesday, December 2nd at 9:30 AM")


@pytest.mark.parametrize(
    "text",
    [
        "today at 9",  # passed
        "December 1st at 9",
        "February 30th",
        "I don't know",
        "whenever",
        "the first one",  # nothing was offered
        "that one",
        "",
    ],
)
def test_no_requested_time(text: str) -> None:
    assert value(SlotKind.DATETIME, text) is None


def test_this_morning_after_nine_is_the_next_hour_while_it_lasts() -> None:
    assert value(SlotKind.DATETIME, "this morning") == "2026-12-01T11:00"
    assert value(SlotKind.DATETIME, "this morning", now=datetime(2026, 12, 1, 11, 30)) is None
    assert value(SlotKind.DATETIME, "morning", now=datetime(2026, 12, 1, 11, 30)) == "2026-12-02T09:00"


def test_late_at_night_rolls_to_tomorrow() -> None:
    late = datetime(2026, 12, 1, 22, 0)
    assert value(SlotKind.DATETIME, "at 10", now=late) == "2026-12-02T10:00"
    assert value(SlotKind.DATETIME, "afternoon", now=late) == "2026-12-02T14:00"


def test_year_end_wraps() -> None:
    new_years_eve = datetime(2026, 12, 31, 16, 0)
    assert value(SlotKind.DATETIME, "January 2nd at 10", now=new_years_eve) == "2027-01-02T10:00"
    assert value(SlotKind.DATETIME, "the 2nd", now=new_years_eve) == "2027-01-02T09:00"
    assert value(SlotKind.DATETIME, "tomorrow", now=new_years_eve) == "2027-01-01T09:00"


# --- appointment time: picking an offer --------------------------------------------------------


@pytest.mark.parametrize(
    "text, index",
    [
        ("the first one", 0),
        ("The first one, please.", 0),
        ("first", 0),
        ("the 1st one", 0),
        ("the second", 1),
        ("Um, the second one.", 1),
        ("the third", 2),
        ("the 3rd", 2),  # an ordinal within the offers picks, even if it could be a date
        ("the last one", 2),
        ("the earliest", 0),
        ("the middle one", 1),
        ("option 2", 1),
        ("number three", 2),
        ("the 10 o'clock one", None),  # not offered: see below
        ("the 9:20", 1),
        ("the 9:20 one", 1),
        ("9 o'clock", 0),
        ("the nine o'clock one", 0),
        ("at 9", 0),
        ("tomorrow at 9", 0),
        ("Thursday", 2),
        ("the Thursday one", 2),
        ("Thursday at 2", 2),
        ("the 2 o'clock", 2),
        ("at 2", 2),
        ("two pm", 2),
        ("the afternoon one", 2),
        ("December 3rd", 2),
        ("the 3rd of December", 2),
    ],
)
def test_offer_picked(text: str, index: int | None) -> None:
    found = value(SlotKind.DATETIME, text, offers=OFFERS)
    if index is None:
        assert found == "2026-12-02T10:00"  # the requested time instead
    else:
        assert found == OFFERS[index].isoformat(timespec="minutes")


def test_offer_keyed() -> None:
    assert value(SlotKind.DATETIME, "", dtmf="2", offers=OFFERS) == "2026-12-02T09:20"
    assert value(SlotKind.DATETIME, "", dtmf="7", offers=OFFERS) is None


@pytest.mark.parametrize(
    "text, when",
    [
        ("Friday", "2026-12-04T09:00"),  # no offer on Friday: the requested day
        ("first thing Thursday", "2026-12-03T09:00"),  # the Thursday offer is in the afternoon
        ("Wednesday afternoon", "2026-12-02T14:00"),
        ("tomorrow at 11", "2026-12-02T11:00"),
        ("how about Monday at 3", "2026-12-07T15:00"),
    ],
)
def test_no_offer_fits_so_the_request_is_returned(text: str, when: str) -> None:
    assert value(SlotKind.DATETIME, text, offers=OFFERS) == when


def test_ambiguous_among_offers_returns_the_request() -> None:
    # "Wednesday" fits two offers: the value is the requested Wednesday 09:00 (the navigator
    # re-offers around it), which here happens to equal the first offer.
    assert value(SlotKind.DATETIME, "Wednesday", offers=OFFERS) == "2026-12-02T09:00"
    two_at_nine = (datetime(2026, 12, 2, 9, 0), datetime(2026, 12, 3, 9, 0))
    assert value(SlotKind.DATETIME, "the 9 o'clock", offers=two_at_nine) == "2026-12-02T09:00"
    assert value(SlotKind.DATETIME, "Thursday at 9", offers=two_at_nine) == "2026-12-03T09:00"


def test_offer_in_the_past_is_refused() -> None:
    assert value(SlotKind.DATETIME, "the first one", offers=(NOW - timedelta(hours=1),)) is None


def test_fourth_ordinal_with_three_offers_is_a_day_of_the_month() -> None:
    assert value(SlotKind.DATETIME, "the 4th", offers=OFFERS) == "2026-12-04T09:00"


# --- phone -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "555 123 4567",
        "555-123-4567",
        "(555) 123-4567",
        "+1 555 123 4567",
        "1-555-123-4567",
        "5551234567",
        "My number is 555-123-4567.",
        "five five five one two three four five six seven",
        "Five, five, five. One, two, three. Four, five, six, seven.",
        "five five five, one two three, forty five sixty seven",
        "double five five one two three four five six seven",
        "it's 555 one two three 45 67",
        "5-5-5-1-2-3-4-5-6-7",
    ],
)
def test_phone(text: str) -> None:
    assert extract(SlotKind.PHONE, text, now=NOW) == SlotValue("5551234567", "5 5 5, 1 2 3, 4 5 6 7")


def test_phone_with_zeros_and_800() -> None:
    assert value(SlotKind.PHONE, "It's 1-800-555-1234") == "8005551234"
    assert value(SlotKind.PHONE, "two oh one, five five five, oh one nine nine") == "2015550199"
    assert value(SlotKind.PHONE, "eight hundred five five five one two three four") == "8005551234"


@pytest.mark.parametrize(
    "text",
    ["555 1234", "555 123 45678", "2 555 123 4567", "I don't have one", "", "call me back", "555 123 4567 extension 22"],
)
def test_not_a_phone(text: str) -> None:
    assert value(SlotKind.PHONE, text) is None


def test_phone_keypad() -> None:
    assert value(SlotKind.PHONE, "", dtmf="5551234567") == "5551234567"
    assert value(SlotKind.PHONE, "", dtmf="15551234567#") == "5551234567"
    assert value(SlotKind.PHONE, "555 123 4567", dtmf="12") == "5551234567"
    assert value(SlotKind.PHONE, "", dtmf="555123") is None


# --- digits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, digits",
    [
        ("12345", "12345"),
        ("It's 48213.", "48213"),
        ("my reference is one two three oh five", "12305"),
        ("twelve thirty four", "1234"),
        ("oh seven", "07"),
        ("zero zero seven", "007"),
        ("4 8 2 1 3", "48213"),
        ("um, 9", "9"),
        ("double three four", "334"),
    ],
)
def test_digits(text: str, digits: str) -> None:
    assert value(SlotKind.DIGITS, text) == digits


def test_digits_spoken_back_in_groups() -> None:
    assert extract(SlotKind.DIGITS, "12345", now=NOW) == SlotValue("12345", "1 2 3, 4 5")
    assert extract(SlotKind.DIGITS, "1234", now=NOW) == SlotValue("1234", "1 2 3 4")


def test_digits_keypad_wins_and_none_without_digits() -> None:
    assert value(SlotKind.DIGITS, "one two", dtmf="9#") == "9"
    assert value(SlotKind.DIGITS, "no idea") is None
    assert value(SlotKind.DIGITS, "") is None


# --- yes / no ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "yes", "Yes.", "Yeah.", "yep", "Yup!", "Sure.", "Correct.", "That's right.", "that is right",
        "Okay.", "OK", "ok", "I agree.", "Go ahead.", "Please do.", "yes please", "Absolutely.",
        "Uh-huh.", "Mm-hmm.", "Sure, no problem.", "Yeah, why not.", "I don't mind.", "Yeah, that works.",
        "Um, yeah, that's fine.", "right",
    ],
)  # fmt: skip
def test_yes(text: str) -> None:
    assert extract(SlotKind.YES_NO, text, now=NOW) == SlotValue("yes", "yes")


@pytest.mark.parametrize(
    "text",
    [
        "no", "No.", "Nope.", "nah", "Don't.", "Please don't.", "I'd rather not.", "Not really.",
        "No, that's not right.", "That's not correct.", "that's wrong", "Stop.", "Yes, no, that's not right.",
        "No thank you.", "Uh-uh.", "Yeah, no.", "I do not.", "incorrect",
    ],
)  # fmt: skip
def test_no(text: str) -> None:
    assert extract(SlotKind.YES_NO, text, now=NOW) == SlotValue("no", "no")


@pytest.mark.parametrize(
    "text",
    ["", "Hmm.", "What?", "Sorry?", "I'm not sure.", "I don't know.", "Maybe.", "Hold on.", "Can you repeat that?", "um"],
)
def test_unclear_yes_no(text: str) -> None:
    assert value(SlotKind.YES_NO, text) is None


def test_yes_no_keypad() -> None:
    assert value(SlotKind.YES_NO, "", dtmf="1") == "yes"
    assert value(SlotKind.YES_NO, "yes", dtmf="2") == "no"
    assert value(SlotKind.YES_NO, "yes", dtmf="9") == "yes"  # other keys: the words


# --- text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("Um, yeah so I need a refill of my lisinopril.", "I need a refill of my lisinopril."),
        ("uh metformin", "metformin"),
        ("  I've had a cough for two weeks.  ", "I've had a cough for two weeks."),
        ("Well, it's my knee again", "it's my knee again"),
        ("Yeah.", "Yeah."),
        ("no", "no"),
    ],
)
def test_text(text: str, cleaned: str) -> None:
    assert extract(SlotKind.TEXT, text, now=NOW) == SlotValue(cleaned, cleaned)


@pytest.mark.parametrize("text", ["", "   ", "um", "Uh... um.", "...", "?"])
def test_empty_text(text: str) -> None:
    assert value(SlotKind.TEXT, text) is None


def test_kind_may_be_a_plain_string() -> None:
    assert value("yes_no", "yes") == "yes"  # type: ignore[arg-type]


# --- properties --------------------------------------------------------------------------------

VOCABULARY = [
    "march", "the", "of", "third", "3rd", "1985", "nineteen", "eighty", "five", "oh", "twenty", "first",
    "tomorrow", "at", "3", "pm", "am", "monday", "next", "week", "one", "o'clock", "2:30", "03/03/1985",
    "3-3-85", "february", "30th", "thirty", "last", "in", "days", "morning", "noon", "half", "past", "quarter",
    "to", "two", "thousand", "and", "hundred", "yes", "no", "not", "my", "name", "is", "it's", "dr.", "-",
    ",", ".", "'", "double", "number", "option", "99:99", "00/00/0000", "9" * 40, "december", "31st",
]  # fmt: skip
phrases = st.lists(st.sampled_from(VOCABULARY), max_size=12).map(" ".join)
any_text = st.one_of(st.text(max_size=80), phrases)
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31))
offer_lists = st.lists(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1)), max_size=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(SlotKind)), text=any_text, dtmf=st.text("0123456789*#", max_size=12), now=instants, offers=offer_lists)
def test_extract_never_raises(kind: SlotKind, text: str, dtmf: str, now: datetime, offers: list[datetime]) -> None:
    found = extract(kind, text, dtmf=dtmf, now=now, offers=offers)
    assert found is None or (isinstance(found, SlotValue) and found.value and found.spoken)


@settings(max_examples=150, deadline=None)
@given(text=any_text, dtmf=st.text("0123456789", max_size=9), now=instants)
def test_date_of_birth_is_always_in_the_past(text: str, dtmf: str, now: datetime) -> None:
    found = extract(SlotKind.DATE_OF_BIRTH, text, dtmf=dtmf, now=now)
    if found is not None:
        born = date.fromisoformat(found.value)
        assert born < now.date()
        assert born.year >= now.year - 121


@settings(max_examples=150, deadline=None)
@given(text=any_text, now=instants, offers=offer_lists)
def test_appointment_time_is_always_in_the_future(text: str, now: datetime, offers: list[datetime]) -> None:
    found = extract(SlotKind.DATETIME, text, now=now, offers=offers)
    if found is not None:
        assert datetime.fromisoformat(found.value) > now


MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December"]  # fmt: skip


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


@settings(max_examples=150, deadline=None)
@given(
    born=st.dates(min_value=date(1907, 1, 1), max_value=date(2026, 11, 30)),
    style=st.sampled_from(["{M} {o}, {Y}", "{o} of {M} {Y}", "{m:02d}/{d:02d}/{Y}", "{m}-{d}-{Y}", "born on {M} {d}, {Y}."]),
)
def test_date_of_birth_round_trip(born: date, style: str) -> None:
    text = style.format(M=MONTH_NAMES[born.month - 1], o=ordinal(born.day), d=born.day, m=born.month, Y=born.year)
    assert value(SlotKind.DATE_OF_BIRTH, text) == born.isoformat()


@settings(max_examples=200, deadline=None)
@given(born=st.dates(min_value=date(1907, 1, 1), max_value=date(2026, 11, 30)))
def test_date_of_birth_keypad_round_trip(born: date) -> None:
    assert value(SlotKind.DATE_OF_BIRTH, "", dtmf=born.strftime("%m%d%Y")) == born.isoformat()
