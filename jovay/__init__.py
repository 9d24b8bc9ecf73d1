"""Jovay: an Ethereum Layer-2 rollup node for real-world assets."""

__version__ = "0.1.0"
CLIENT_VERSION = f"Jovay/v{__version__}/python"
