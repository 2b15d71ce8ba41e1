"""The file source's mapping preset: none, every field is copied as the file gives it."""

PRESET: dict[str, str] = {}
"""No templates: the normalised values from the file are the directory's values."""
