"""The privacy portal."""

__version__ = "0.1.0"
