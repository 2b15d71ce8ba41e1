"""The ``[connectors.NAME.policy]`` table: scoping, mapping, group naming and cleanup.

Every key is described in ``docs/configuration.md`` (section "policy"); the template language
of ``[….policy.mapping]`` in ``docs/mapping.md``. Templates and regular expressions are
compiled when the file is loaded, so a typo is a configuration error naming its key.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from idpsync.templating import compile_template

MAPPED_FIELDS = ("login", "email", "display_name", "given_name", "family_name")
"""Directory fields a mapping template may compute."""

DEFAULT_LOGIN_PATTERN = r"[^\s\x00-\x1f\x7f]{1,255}"
"""A valid login: 1-255 characters, no whitespace or control characters."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


Scalar = str | int | float | bool


class UserFilter(_Strict):
    """One include/exclude rule on a user's field or raw attribute."""

    action: Literal["include", "exclude"]
    """``include``: with any include rule, only users matching one are synced; ``exclude``:
    users matching it are not synced (exclude wins)."""
    field: str = Field(min_length=1)
    """``login``, ``email``, ``display_name``, ``given_name``, ``family_name``, ``active``,
    ``source_id``, or ``attributes.NAME`` (dotted for nested values, e.g.
    ``attributes.profile.department``)."""
    op: Literal["equals", "in", "matches", "endswith", "empty"]
    """``equals`` a value; ``in`` a list; ``matches`` a regular expression (searched);
    ``endswith`` a suffix; ``empty`` (missing, null, blank or empty list)."""
    value: Scalar | list[Scalar] | None = None
    """The value to compare with (a list for ``in``; none for ``empty``)."""
    ignore_case: bool = True
    """Compare case-insensitively (after Unicode NFKC normalisation)."""

    @model_validator(mode="after")
    def _value_fits_op(self) -> UserFilter:
        if self.op == "empty":
            if self.value is not None:
                raise ValueError("op 'empty' takes no value")
        elif self.value is None:
            raise ValueError(f"op {self.op!r} needs a value")
        elif self.op == "in" and not isinstance(self.value, list):
            raise ValueError('op \'in\' needs a list value, e.g. value = ["a", "b"]')
        elif self.op != "in" and isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a single value, not a list")
        if self.op == "matches":
            _regex(str(self.value))
        return self


class GroupRename(_Strict):
    """A regular-expression rename of group names."""

    match: Annotated[str, BeforeValidator(_regex)]
    """Regular expression that must match the whole name (case-insensitive)."""
    replace: str = r"\g<0>"
    """The new name; ``\\1``, ``\\g<name>`` insert captured groups (default: unchanged)."""


class GroupPolicy(_Strict):
    """Which IdP groups become directory groups, and under what names."""

    include: list[str] = Field(default_factory=list)
    """Name patterns to keep (glob like ``eng-*``, or ``re:REGEX``); empty keeps all."""
    exclude: list[str] = Field(default_factory=list)
    """Name patterns to drop (wins over ``include``)."""
    rename: list[GroupRename] = Field(default_factory=list)
    """Rename rules, first match wins."""
    drop_unmatched: bool = False
    """Drop groups that match no ``rename`` rule."""
    lowercase: bool = False
    """Lower-case names (after renaming)."""
    prefix: str = ""
    """Put this in front of every name (after renaming and lower-casing)."""
    always: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(default_factory=list)
    """Groups every synced user is put in; idpsync creates and owns them for the connector."""

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if pattern.startswith("re:"):
                _regex(pattern[3:])
            elif not pattern:
                raise ValueError("an empty pattern matches nothing; remove it")
        return value


def _template(value: str | None) -> str | None:
    if value is not None:
        compile_template(value)  # TemplateProblem is a ValueError: reported with the key
    return value


TemplateText = Annotated[str, AfterValidator(_template)]
"""A template, compiled when the configuration is loaded (a syntax error is reported there)."""


class MappingSettings(_Strict):
    """Templates computing directory fields; unset fields take the source type's preset."""

    login: str | None = None
    """Template of the login (see docs/mapping.md)."""
    email: str | None = None
    """Template of the e-mail address."""
    display_name: str | None = None
    """Template of the display name."""
    given_name: str | None = None
    """Template of the first name."""
    family_name: str | None = None
    """Template of the last name."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Extra directory attributes, by name, each computed by a template."""
    keep_source_attributes: bool = True
    """Also keep every raw attribute the source fetched (mapped ``attributes`` win)."""
    login_pattern: Annotated[str, BeforeValidator(_regex)] = DEFAULT_LOGIN_PATTERN
    """A computed login must match this whole regular expression, or the user is skipped."""

    @field_validator(*MAPPED_FIELDS)
    @classmethod
    def _compile(cls, value: str | None) -> str | None:
        return _template(value)

    @field_validator("attributes")
    @classmethod
    def _compile_attributes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, source in value.items():
            try:
                compile_template(source)
            except ValueError as exc:
                raise ValueError(f"attributes.{name}: {exc}") from None
        return value


def _spelling(value: Any) -> Any:
    return "anonymise" if value == "anonymize" else value


class PolicySettings(_Strict):
    """What the connector's snapshot becomes in the directory."""

    required_groups: list[str] = Field(default_factory=list)
    """Only members of any of these IdP groups (by name or IdP id) are synced; empty: all.
    Sources that can use it fetch only these groups' members."""
    transitive: bool = False
    """Members of nested groups of a required group count as members."""
    user_filters: list[UserFilter] = Field(default_factory=list)
    """Include/exclude rules on user fields and attributes."""
    groups: GroupPolicy = GroupPolicy()
    """Group filters, renaming and always-assigned groups."""
    mapping: MappingSettings = MappingSettings()
    """Templates computing directory fields."""
    deprovision: Annotated[
        Literal["deactivate", "delete", "anonymise", "keep"], BeforeValidator(_spelling)
    ] = "deactivate"
    """What happens to a user who left the IdP or the connector's scope."""
    remove_memberships: bool = False
    """Also take deprovisioned users out of the connector's groups."""
    grace_runs: int = Field(0, ge=0, le=1000)
    """Deprovision only after the user was missing from this many complete runs in a row."""
    grace_days: float = Field(0, ge=0, le=3650)
    """Deprovision only after the user has been missing for this many days."""
    relink_recreated: bool = False
    """A new IdP user whose login is held by a former (missing) user of this connector takes
    over that account (same directory identity) instead of being skipped as a collision."""
    unique_emails: bool = True
    """Treat e-mail addresses like logins: a shared address is a collision (both skipped)."""
    delete_groups: bool = True
    """Delete owned groups that disappeared from the IdP (memberships go with them)."""


def fetch_scope(policy: PolicySettings) -> tuple[list[str], bool] | None:
    """What a source may narrow its read to: ``(required groups, transitive)``; ``None``: all.

    A source that can list a group's members (transitively when the flag is set) may read only
    those users, plus those groups. The policy still applies the scope, so a source that
    ignores this reads more, never less. Names and ids are as configured; the source resolves
    names case-insensitively.
    """
    return (list(policy.required_groups), policy.transitive) if policy.required_groups else None


def pattern_matches(pattern: str, name: str) -> bool:
    """Whether a group-name pattern (glob or ``re:REGEX``) matches ``name``, ignoring case."""
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], name, re.IGNORECASE) is not None
    return fnmatch.fnmatchcase(name.casefold(), pattern.casefold())
