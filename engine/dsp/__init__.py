"""The node's fixed-point signal chain (the C firmware runs the same integer operations)."""

from engine.dsp.chain import Chain, build_chain
from engine.dsp.stages import ChainError

__all__ = ["Chain", "ChainError", "build_chain"]
