"""Fragmented Data Block Transport (LoRa Alliance TS004-1.0.0): the image cut into M
fragments of S bytes (the last one padded with zeros), followed by parity fragments, each
the XOR of the data fragments its parity-matrix line selects.

The matrix line of parity fragment n (1-based, counted after the M data fragments) is the
specification's: a 23-bit pseudo-random sequence seeded with 1 + 1001 n draws M/2 column
indices below M (the modulus is M + 1 when M is a power of two); a column drawn twice is set
once. Every fragment travels as a DataFragment command (CID 0x08) on FPort 201: the 16-bit
little-endian IndexAndN (session index in bits 15-14, fragment counter N, from 1, in bits
13-0) and the S data bytes.
"""

from __future__ import annotations

import attrs
import numpy as np

DATA_FRAGMENT_CID = 0x08
FRAG_SESSION_SETUP_CID = 0x02
FRAGMENT_PORT = 201
HEADER_BYTES = 3  # CID + IndexAndN
MAX_FRAGMENTS = 2**14 - 1  # N is 14 bits
MAX_FRAGMENT_SIZE = 255  # FragSize is one byte


def prbs23(x: int) -> int:
    """One step of the specification's 23-bit generator (taps at bits 0 and 5)."""
    return (x >> 1) | (((x ^ (x >> 5)) & 1) << 22)


def matrix_lines(m: int, count: int) -> np.ndarray:
    """Parity-matrix lines 1..count for m data fragments, as a (count, m) bool array."""
    lines = np.zeros((count, m), dtype=bool)
    modulus = m + 1 if m & (m - 1) == 0 else m
    for n in range(1, count + 1):
        x = 1 + 1001 * n
        for _ in range(m // 2):
            r = m
            while r >= m:
                x = prbs23(x)
                r = x % modulus
            lines[n - 1, r] = True
    return lines


@attrs.frozen
class FragmentSession:
    """What FragSessionSetupReq tells the node, and the stream it then receives."""

    fragment_size: int  # S
    data_fragments: int  # M (NbFrag)
    parity_fragments: int
    padding: int  # zero bytes appended to the last data fragment
    session_index: int = 0  # FragIndex, 0..3
    group_mask: int = 1  # McGroupBitMask: the multicast groups that carry the session

    @property
    def total_fragments(self) -> int:
        return self.data_fragments + self.parity_fragments

    def setup_request(self, descriptor: bytes = bytes(4)) -> bytes:
        """FragSessionSetupReq (TS004-1.0.0 clause 4.3): CID, FragSession, NbFrag, FragSize,
        Control (fragmentation matrix 0, block ack delay 0), Padding, Descriptor."""
        frag_session = (self.session_index & 3) << 4 | (self.group_mask & 0xF)
        return bytes([FRAG_SESSION_SETUP_CID, frag_session]) + self.data_fragments.to_bytes(2, "little") \
            + bytes([self.fragment_size, 0, self.padding]) + descriptor


def session_for(image_size: int, fragment_size: int, parity_fragments: int, session_index: int = 0,
                group_mask: int = 1) -> FragmentSession:
    m = -(-image_size // fragment_size)
    if not 1 <= fragment_size <= MAX_FRAGMENT_SIZE:
        raise ValueError(f"fragment size {fragment_size} is outside 1..{MAX_FRAGMENT_SIZE}")
    if m + parity_fragments > MAX_FRAGMENTS:
        raise ValueError(f"{m} data and {parity_fragments} parity fragments exceed the {MAX_FRAGMENTS} a session counts")
    return FragmentSession(fragment_size, m, parity_fragments, m * fragment_size - image_size, session_index, group_mask)


def encode(image: bytes, session: FragmentSession) -> list[bytes]:
    """Every DataFragment payload of the session, in sending order (data, then parity)."""
    s, m = session.fragment_size, session.data_fragments
    data = np.zeros(m * s, dtype=np.uint8)
    data[:len(image)] = np.frombuffer(image, dtype=np.uint8)
    rows = data.reshape(m, s)
    lines = matrix_lines(m, session.parity_fragments)
    # GF(2) product of the matrix lines with the data rows, bit-sliced over the bytes
    bits = np.unpackbits(rows, axis=1).astype(np.int64)
    parity = np.packbits((lines.astype(np.int64) @ bits) & 1, axis=1).astype(np.uint8)
    payloads = np.concatenate([rows, parity]) if session.parity_fragments else rows
    out = []
    for counter, payload in enumerate(payloads, start=1):
        index_and_n = (session.session_index & 3) << 14 | counter
        out.append(bytes([DATA_FRAGMENT_CID]) + index_and_n.to_bytes(2, "little") + payload.tobytes())
    return out
