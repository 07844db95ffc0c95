"""The fleetsim version, recorded in run folders and reports."""

__version__ = "0.1.0"
