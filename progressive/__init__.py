"""progressive: an end-to-end harness and conformance suite for progressive delivery."""

__version__ = "0.1.0"
