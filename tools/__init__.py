"""Developer tools outside the tracegrad package (not installed, never imported by it)."""
