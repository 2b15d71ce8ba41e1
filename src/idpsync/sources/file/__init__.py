"""The file connector: users, groups and memberships from a local JSON document.

``settings`` (the ``source`` table) and ``reader`` (:class:`~idpsync.sources.file.reader.FileSource`
and the document's format); there are no endpoints. See docs/file-source.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idpsync.sources.base import Source
    from idpsync.sources.registry import SourceContext


def build(context: SourceContext) -> Source:
    """The file source of a connector (its ``path`` relative to the configuration file)."""
    from idpsync.sources.file.reader import FileSource
    from idpsync.sources.file.settings import FileSourceSettings

    settings = context.connector.source
    assert isinstance(settings, FileSourceSettings)
    return FileSource(settings, context=context)
