"""Format limits a reader enforces before allocating anything a header merely declares."""

from __future__ import annotations

import os

# Input channels are the one size no stored array backs (an input projection may hold no
# synapse at all), so it is capped: far above any sensor front end, far below memory limits.
MAX_INPUTS = 2**20

# Whole files read before parsing. An image's total_size is a u32, but no target holds more
# than a few MiB of model: 256 MiB is far above any real image and still a bounded read
# (`inspect /dev/zero` stops there instead of reading forever).
MAX_IMAGE_BYTES = 256 * 1024 * 1024
# A PEM Ed25519 key is under 200 bytes; a raw one 32 to 64.
MAX_KEY_BYTES = 64 * 1024


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of `path`, at most `limit` of them: OverflowError names a larger file (or a
    device or pipe that keeps giving) before more than limit + 1 bytes are read."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OverflowError(f"more than {limit} bytes")
    return data
