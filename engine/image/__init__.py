"""The `.nmc` model image: one layout table (layout.py) drives the writer, the reader and
the firmware's C header. Codegen writes with this package; verify reads with it."""

from engine.image.contents import (
    ImageContents,
    IOMap,
    Metadata,
    PopulationState,
    RuntimePolicy,
    StateLayout,
    StateWord,
    Target,
    Thermal,
    state_layout_for,
)
from engine.image.errors import ImageError
from engine.image.keys import load_signing_key, load_verify_key
from engine.image.layout import generate_c_header
from engine.image.reader import ParsedImage, SectionInfo, parse_image, read_image
from engine.image.writer import write_image

__all__ = [
    "IOMap",
    "ImageContents",
    "ImageError",
    "Metadata",
    "ParsedImage",
    "PopulationState",
    "RuntimePolicy",
    "SectionInfo",
    "StateLayout",
    "StateWord",
    "Target",
    "Thermal",
    "generate_c_header",
    "load_signing_key",
    "load_verify_key",
    "parse_image",
    "read_image",
    "state_layout_for",
    "write_image",
]
