"""The ``source`` table of a File connector (``type = "file"``)."""

from __future__ import annotations

from typing import Literal

from idpsync.sources.settings import SourceBase


class FileSourceSettings(SourceBase):
    """The ``file`` source: a JSON document of users, groups and memberships."""

    type: Literal["file"]
    """Source type."""
    path: str
    """Path of the JSON document (relative paths are relative to the configuration file)."""
