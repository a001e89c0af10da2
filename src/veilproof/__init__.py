"""veilproof: private and verifiable AI inference."""

__version__ = "0.1.0"
