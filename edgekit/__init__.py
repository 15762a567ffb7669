"""edgekit: build models for edge devices, measure their energy honestly, keep a fleet within budget."""

__version__ = "0.1.0"
