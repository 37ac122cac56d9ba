"""diagnostic-operator: run scientific diagnostics, classify how they ended, retry, publish and ingest."""

__version__ = "0.1.0"
