"""robust-sabn: adversarial-robustness benchmarks around Sandwich Batch Normalization."""

__version__ = "0.1.0"
