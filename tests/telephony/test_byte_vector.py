import pjsua2 as pj

from telephony import byte_vector
from telephony.byte_vector import read_byte_vector, to_byte_vector


def test_fast_path_is_active_and_matches_the_slow_copy():
    assert read_byte_vector is byte_vector._read_fast  # libstdc++ layout check passed here
    payload = bytes(range(256)) * 2 + b"\x00\xff" * 64
    vector = to_byte_vector(payload)
    assert read_byte_vector(vector) == bytes(vector) == payload


def test_empty_vector_reads_as_empty_bytes():
    assert read_byte_vector(pj.ByteVector()) == b""
