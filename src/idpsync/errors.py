"""The root of idpsync's own exceptions, importable from every layer.

::

    IdpsyncError                  anything idpsync reports in its own words
    └── SourceError               an IdP could not be read; ``str()`` says what and what to do
        ├── ShapeError            a page is not shaped as the API documents it
        │   └── RepeatedPage      the API handed back a page token or link it gave before
        └── HttpError             (idpsync.http.errors) a request for an endpoint failed

The HTTP layer, the auth flows and the connectors all raise these; the runner reports them.
Nothing here imports another idpsync module, so the layers below the connectors (``http``,
``auth``) depend on this module, never on ``sources``.
"""

from __future__ import annotations


class IdpsyncError(Exception):
    """An error whose ``str()`` is a complete message for an administrator (never a secret)."""


class SourceError(IdpsyncError):
    """A source could not read its IdP; ``str()`` says what and what to do (no secrets)."""


class ShapeError(SourceError):
    """A page is not shaped as the IdP documents it: its listing cannot be read to the end."""


class RepeatedPage(ShapeError):
    """The IdP gave a page token, cursor or link it had given before: paging would never end."""
