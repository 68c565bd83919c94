"""kit: the Concurrency Wars reproducibility kit."""

__version__ = "0.1.0"
