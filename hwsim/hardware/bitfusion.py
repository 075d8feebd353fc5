"""Placeholder: this family module is not written yet."""
