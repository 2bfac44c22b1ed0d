"""Datasets that plugins declare: download (resumable, checksummed), safe extraction, checks."""
