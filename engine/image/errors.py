"""ImageError: why an image could not be written, read or trusted (NM7xx diagnostics)."""

from __future__ import annotations

from collections.abc import Iterable

from engine.diagnostics import Diagnostic, StageError

# Stable codes; never reuse a retired one.
BAD_MAGIC = "NM701"  # not an .nmc image
TRUNCATED = "NM702"  # fewer bytes than the image declares
UNSUPPORTED_VERSION = "NM703"  # newer major version (or an unknown fixed-structure size)
CRC_MISMATCH = "NM704"  # image CRC-32 does not match
SECTION_CRC_MISMATCH = "NM705"  # one section's CRC-32 does not match
BAD_BOUNDS = "NM706"  # section table or a section out of bounds, misaligned or overlapping
OVERSIZED = "NM707"  # a declared count or size larger than the bytes that hold it
HASH_MISMATCH = "NM708"  # trailer SHA-256 does not match
BAD_SIGNATURE = "NM709"  # signature does not verify with the given key
UNSIGNED = "NM710"  # a signature is required and the image has none (or no key to check it)
MALFORMED = "NM711"  # a section's content contradicts the format or another section
INVALID_CONTENTS = "NM712"  # the writer was given something the format cannot hold exactly
KEY_ERROR = "NM713"  # a signing or verify key could not be loaded
STATE_LAYOUT_MISMATCH = "NM714"  # stored state layout digest differs from its description
RESERVED_NOT_ZERO = "NM720"  # a reserved field or an unknown flag bit is not zero
UNTRUSTED_KEY = "NM721"  # signed by a key that is not among the trusted keys


class ImageError(StageError):
    """Raised by the image package; carries one or more NM7xx diagnostics."""

    def __init__(self, diagnostics: Iterable[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        super().__init__(diagnostics)

    @property
    def diagnostic(self) -> Diagnostic:
        return self.diagnostics[0]

    @property
    def code(self) -> str:
        return self.diagnostics[0].code


def image_error(code: str, message: str, *, file: str | None = None, hint: str | None = None) -> ImageError:
    return ImageError(Diagnostic("error", code, message, file=file, hint=hint))
