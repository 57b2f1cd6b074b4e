"""The fragment encoder (engine.delivery.fragments) against a second, independent
implementation of the TS004-1.0.0 parity matrix: the specification's pseudo-code
transcribed line by line over Python integers, parity computed bit by bit, where the
encoder draws all lines into one array and multiplies over GF(2) with numpy."""

from __future__ import annotations

import pytest

from engine.delivery.fragments import (
    DATA_FRAGMENT_CID,
    FragmentSession,
    encode,
    matrix_lines,
    prbs23,
    session_for,
)


def spec_prbs23(x):
    b0 = x & 1
    b1 = (x & 32) >> 5
    return (x >> 1) + ((b0 ^ b1) << 22)


def spec_matrix_line(n, m):
    """TS004-1.0.0's matrix_line(N, M), as the specification writes it."""
    line = [0] * m
    mm = 1 if m > 0 and (m & (m - 1)) == 0 else 0
    x = 1 + 1001 * n
    nb_coeff = 0
    while nb_coeff < m // 2:
        r = 2**16
        while r >= m:
            x = spec_prbs23(x)
            r = x % (m + mm)
        line[r] = 1
        nb_coeff += 1
    return line


def reference_fragments(image: bytes, size: int, parity: int) -> list[bytes]:
    m = -(-len(image) // size)
    padded = image + bytes(m * size - len(image))
    data = [padded[i * size:(i + 1) * size] for i in range(m)]
    out = list(data)
    for n in range(1, parity + 1):
        line = spec_matrix_line(n, m)
        fragment = bytearray(size)
        for byte in range(size):
            value = 0
            for bit in range(8):
                acc = 0
                for j in range(m):
                    if line[j]:
                        acc ^= (data[j][byte] >> bit) & 1
                value |= acc << bit
            fragment[byte] = value
        out.append(bytes(fragment))
    return out


def test_prbs23_by_hand():
    # 1001 = 0b11_1110_1001: bits 0 and 5 are both 1, so nothing enters at bit 22 -> 500;
    # 500 = 0b1_1111_0100: bit 0 is 0, bit 5 is 1 -> 250 + 2**22
    assert prbs23(1001) == 0x1F4  # 500
    assert prbs23(500) == 0x4000FA  # 250 + 2**22
    x = 12345
    for _ in range(1000):
        assert prbs23(x) == spec_prbs23(x)
        x = prbs23(x)


@pytest.mark.parametrize("m", [1, 2, 3, 7, 8, 16, 31, 100, 128])
def test_matrix_lines_equal_the_specification_pseudo_code(m):
    lines = matrix_lines(m, 40)
    assert [list(map(int, row)) for row in lines] == [spec_matrix_line(n, m) for n in range(1, 41)]


def test_matrix_line_of_ten_by_hand():
    """Line 1 for M = 10 (not a power of two: modulus 10), M/2 = 5 draws from x = 1 + 1001:
    1002 = 0b11_1110_1010 (bit 0 is 0, bit 5 is 1) -> 501 + 2**22 = 4194805 -> column 5;
    then 2097402, 5243005, 2621502, 5505055 -> columns 2, 5, 2, 5: only 2 and 5 are set."""
    assert [int(v) for v in matrix_lines(10, 1)[0]] == [0, 0, 1, 0, 0, 1, 0, 0, 0, 0]


@pytest.mark.parametrize("length, size, parity", [(1, 16, 3), (100, 16, 7), (1000, 48, 40), (5760, 219, 12),
                                                  (4096, 64, 20)])
def test_encoder_equals_bit_by_bit_reference(length, size, parity):
    image = bytes((i * 131 + 7) % 251 for i in range(length))
    session = session_for(length, size, parity)
    fragments = encode(image, session)
    expected = reference_fragments(image, size, parity)
    assert len(fragments) == session.total_fragments == len(expected)
    for counter, (fragment, payload) in enumerate(zip(fragments, expected), start=1):
        assert fragment[0] == DATA_FRAGMENT_CID
        assert int.from_bytes(fragment[1:3], "little") == counter
        assert fragment[3:] == payload
    assert b"".join(f[3:] for f in fragments[:session.data_fragments])[:length] == image


def test_session_setup_request_fields():
    session = FragmentSession(fragment_size=48, data_fragments=300, parity_fragments=30, padding=5,
                              session_index=2, group_mask=0b0101)
    assert session.setup_request(b"\x01\x02\x03\x04") == bytes(
        [0x02, 0x25, 0x2C, 0x01, 48, 0x00, 5, 1, 2, 3, 4])
    frames = encode(bytes(300 * 48 - 5), session)
    assert int.from_bytes(frames[0][1:3], "little") == (2 << 14) | 1


def test_session_limits():
    with pytest.raises(ValueError, match="fragment size 256 is outside 1..255"):
        session_for(1000, 256, 0)
    with pytest.raises(ValueError, match="16383 a session counts"):
        session_for(16383 * 16, 16, 1)
