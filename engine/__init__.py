"""nmspec: declarative deployment specs for spiking-neural-network sensor nodes."""

__version__ = "0.1.0"
