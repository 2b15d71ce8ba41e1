"""The store's photo tables (declared on :data:`idpsync.store.schema.metadata`).

- ``photo_blobs``: photo bytes, content-addressed: one row per distinct image
  (:func:`idpsync.photos.digest`), however many users show it.
- ``user_photos``: per connector and IdP user id, which bytes are the user's photo and for
  which version (``photo_ref``) they were downloaded. ``wanted`` is the newest version the
  source reported, ``refused`` a version that failed the checks (with ``reason``), so it is
  not downloaded again until the IdP's version changes.

A user's photo is current when ``version`` equals the directory user's ``photo_ref``; while a
newer version waits (the run's budget) or was refused, the row keeps the older bytes, which
nothing delivers (their version is not the user's). Blobs no row points at are deleted in the
run that let go of them (:mod:`idpsync.store.photos`). Migration: ``0011_photos``.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from idpsync.store.schema import metadata

photo_blobs = Table(
    "photo_blobs",
    metadata,
    Column("digest", String(80), primary_key=True),
    Column("content_type", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)

user_photos = Table(
    "user_photos",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("version", String(255), nullable=True),
    Column("digest", String(80), ForeignKey("photo_blobs.digest"), nullable=True),
    Column("wanted", String(255), nullable=True),
    Column("refused", String(255), nullable=True),
    Column("reason", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "digest"),
    Index(None, "source_id", "version"),
)
