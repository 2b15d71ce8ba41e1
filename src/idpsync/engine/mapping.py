"""Mapping: computing each directory field of a user from the source's values.

A :class:`Mapper` holds one compiled template per directory field. Fields the configuration
does not set take the preset of the connector's source type (the ``PRESET`` of
``idpsync.sources.<type>.mapping``, handed in by the caller); a field that neither sets is copied
from the source's normalised value. Templates see the normalised fields
(``login``, ``email``, ``display_name``, ``given_name``, ``family_name``, ``active``,
``source_id``, ``manager_id``) and ``attributes`` (the raw IdP attributes by the IdP's names).

A user whose login renders empty, fails to render or does not match ``login_pattern`` is not
mapped: :class:`MappingError` says why, and the policy skips that user with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template

from idpsync.config_policy import MAPPED_FIELDS, MappingSettings
from idpsync.model import DirUser, JSONValue, SourceUser
from idpsync.templating import TemplateProblem, compile_template, render


class MappingError(Exception):
    """A user cannot be mapped; ``str()`` is the reason reported for the skipped user."""


def _without_nulls(value: Any) -> Any:
    """Nested dicts without ``None`` values: a null is then *missing* (renders empty)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def context(user: SourceUser) -> dict[str, Any]:
    """The names a template sees for ``user`` (nulls left out, so they render empty)."""
    names: dict[str, Any] = _without_nulls(
        {
            "source_id": user.source_id,
            "login": user.login,
            "email": user.email,
            "display_name": user.display_name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "active": user.active,
            "manager_id": user.manager_id,
            "attributes": dict(user.attributes),
        }
    )
    return names


@dataclass
class Mapper:
    """Compiled templates for one connector."""

    templates: dict[str, Template | None]
    """Per directory field; ``None`` copies the normalised value unchanged (the fast path)."""
    extra: dict[str, Template] = field(default_factory=dict)
    """Extra attributes by name."""
    keep_source_attributes: bool = True
    """Copy the raw attributes too."""
    login_pattern: re.Pattern[str] = field(default_factory=lambda: re.compile(r".+"))
    """What a valid login looks like."""

    @classmethod
    def build(cls, settings: MappingSettings, preset: Mapping[str, str] | None = None) -> Mapper:
        """Compile the configured templates over ``preset`` (the source type's defaults)."""
        preset = preset or {}
        templates: dict[str, Template | None] = {}
        for name in MAPPED_FIELDS:
            source = getattr(settings, name) or preset.get(name)
            templates[name] = (
                None if source is None or _is_identity(source, name) else (compile_template(source))
            )
        extra = {name: compile_template(src) for name, src in settings.attributes.items()}
        return cls(
            templates, extra, settings.keep_source_attributes, re.compile(settings.login_pattern)
        )

    def map_user(self, user: SourceUser) -> DirUser:
        """The directory user for ``user``; :class:`MappingError` when it cannot be mapped."""
        ctx: dict[str, Any] | None = None
        values: dict[str, str | None] = {}
        for name, template in self.templates.items():
            if template is None:
                values[name] = getattr(user, name)
                continue
            ctx = ctx if ctx is not None else context(user)
            try:
                values[name] = render(template, ctx)
            except TemplateProblem as exc:
                raise MappingError(f"mapping of {name} failed: {exc}") from None
        login = (values.pop("login") or "").strip()
        if not login:
            raise MappingError("the login mapping gave an empty value")
        if not self.login_pattern.fullmatch(login):
            raise MappingError(f"the login {login!r} is not valid (login_pattern)")
        return DirUser(
            source_id=user.source_id,
            login=login,
            active=user.active,
            manager_id=user.manager_id,
            photo_ref=user.photo_ref,
            attributes=self._attributes(user, ctx),
            **values,
        )

    def _attributes(self, user: SourceUser, ctx: dict[str, Any] | None) -> dict[str, JSONValue]:
        result: dict[str, JSONValue] = dict(user.attributes) if self.keep_source_attributes else {}
        if self.extra:
            ctx = ctx if ctx is not None else context(user)
            for name, template in self.extra.items():
                try:
                    result[name] = render(template, ctx)
                except TemplateProblem as exc:
                    raise MappingError(f"mapping of attribute {name} failed: {exc}") from None
        return result


def _is_identity(source: str, name: str) -> bool:
    return re.fullmatch(r"\{\{\s*" + name + r"\s*\}\}", source.strip()) is not None
