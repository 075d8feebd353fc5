"""Placeholder: networks not written yet."""
