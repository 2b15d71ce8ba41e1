r"""The mapping template language: Jinja2 expressions evaluated in a sandbox.

A directory field (login, e-mail, names, extra attributes) is computed from a source user by a
template such as ``{{ attributes.mail | fallback(email) | lower }}``. Templates run in Jinja2's
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`: no attribute starting with ``_``, no
method that mutates, no imports, no access to Python builtins — a template can read the user's
values and transform them, nothing else. Missing attributes render as an empty string (so
``fallback`` can move on to the next candidate) instead of failing.

Filters and functions on top of Jinja2's built-ins (``lower``, ``upper``, ``trim``, ``replace``,
``first``, ``join``…), all documented in ``docs/mapping.md``:

- ``value | fallback(a, b, …)`` / ``first_non_empty(value, a, b, …)``: the first non-empty value.
- ``value | strip_domain``: ``ada@example.org`` → ``ada``, ``CORP\ada`` → ``ada``.
- ``value | domain``: ``ada@example.org`` → ``example.org``.
- ``value | regex_replace(pattern, replacement)``: :func:`re.sub` with ``\1``-style groups.
- ``value | entra_guest``: an Entra guest UPN ``ada_example.org#EXT#@t.onmicrosoft.com`` →
  ``ada@example.org``; any other value unchanged.

Syntax errors and unknown filters are found when the template is compiled, i.e. when the
configuration is loaded; :class:`TemplateProblem` carries the message.

A template of the common subset (lookups, the pure filters, ``first_non_empty``, ``~``,
``or``/``and``) is evaluated directly by :mod:`idpsync.template_direct`, with exactly Jinja's
result; anything else, and any unusual value at render time, is rendered by Jinja.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from idpsync.template_direct import Direct, translate

MAX_TEMPLATE_CHARS = 4000
"""Longest template accepted (a mapping is an expression, not a program)."""


class TemplateProblem(ValueError):
    """A template cannot be compiled or rendered; ``str()`` says why."""


def _is_empty(value: Any) -> bool:
    if value is None or isinstance(value, Undefined):
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict | set):
        return not value
    return False


def first_non_empty(*values: Any) -> Any:
    """The first value that is not missing, ``None``, blank or an empty list; else ``""``."""
    for value in values:
        if not _is_empty(value):
            return value
    return ""


def fallback(value: Any, *others: Any) -> Any:
    """Filter form of :func:`first_non_empty`: ``value`` unless it is empty, then ``others``."""
    return first_non_empty(value, *others)


def strip_domain(value: Any) -> str:
    r"""The local part of an address: drops ``@domain`` and a ``DOMAIN\`` prefix."""
    text = "" if _is_empty(value) else str(value)
    text = text.rsplit("\\", 1)[-1]
    return text.split("@", 1)[0]


def domain(value: Any) -> str:
    """The part after the last ``@`` (empty when there is none)."""
    text = "" if _is_empty(value) else str(value)
    return text.rsplit("@", 1)[1] if "@" in text else ""


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    if len(pattern) > 1000:
        raise TemplateProblem("regex_replace: the pattern is longer than 1000 characters")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise TemplateProblem(f"regex_replace: invalid pattern {pattern!r}: {exc}") from None


def regex_replace(value: Any, pattern: str, replacement: str, count: int = 0) -> str:
    r""":func:`re.sub` of ``pattern`` by ``replacement`` (``\1``/``\g<name>`` groups)."""
    text = "" if _is_empty(value) else str(value)
    try:
        return _compiled(str(pattern)).sub(str(replacement), text, count=int(count))
    except re.error as exc:
        raise TemplateProblem(f"regex_replace: bad replacement {replacement!r}: {exc}") from None


_GUEST = re.compile(r"^(?P<local>.+)_(?P<domain>[^_#@]+)#EXT#@.+$", re.IGNORECASE)


def entra_guest(value: Any) -> str:
    """An Entra B2B guest UPN turned back into the guest's own address; others unchanged."""
    text = "" if _is_empty(value) else str(value)
    match = _GUEST.match(text)
    return f"{match['local']}@{match['domain']}" if match else text


MAX_REPEAT_CHARS = 10_000
"""Longest string or list a template may build with ``*``."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, stricter: forbidden attributes fail, ``*`` stays small.

    A forbidden attribute is an error rather than an empty value, ``**`` is refused, and
    ``*`` cannot build a string or list longer than :data:`MAX_REPEAT_CHARS`.
    """

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("the ** operator is not allowed in mapping templates")
        sized = [v for v in (left, right) if isinstance(v, str | list | tuple)]
        counts = [v for v in (left, right) if isinstance(v, int)]
        if sized and counts and len(sized[0]) * counts[0] > MAX_REPEAT_CHARS:
            raise SecurityError(f"a repeated value longer than {MAX_REPEAT_CHARS} is not allowed")
        return super().call_binop(context, operator, left, right)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed"
        )


class _Template(Template):
    """A compiled template that may carry its direct evaluator (:func:`compile_template`)."""

    direct: Direct | None = None
    """The common subset's evaluator; ``None``: Jinja renders every time."""


def _environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(
        undefined=ChainableUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        finalize=lambda value: "" if value is None else value,
    )
    env.template_class = _Template
    env.globals.clear()
    env.globals["first_non_empty"] = first_non_empty
    env.filters.update(
        fallback=fallback,
        strip_domain=strip_domain,
        domain=domain,
        regex_replace=regex_replace,
        entra_guest=entra_guest,
    )
    return env


ENV = _environment()
"""The one sandboxed environment every mapping template is compiled in."""


def compile_template(source: str) -> Template:
    """Compile ``source``; :class:`TemplateProblem` on syntax errors and unknown filters."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateProblem(f"template is longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        template = ENV.from_string(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (template line {line})" if line and "\n" in source else ""
        hint = " (docs/mapping.md lists the filters)" if "filter" in str(exc) else ""
        raise TemplateProblem(f"template error{where}: {exc.message or exc}{hint}") from None
    if isinstance(template, _Template):
        template.direct = translate(ENV, source)
    return template


def render(template: Template, context: Mapping[str, Any]) -> str | None:
    """Render to a stripped string; ``None`` when the result is blank.

    Raises :class:`TemplateProblem` when the template fails for this input (a type error, a
    sandbox violation, a bad regular expression).
    """
    direct = getattr(template, "direct", None)
    if direct is not None:
        text = direct(context)
        if text is not None:
            return text.strip() or None
    try:
        text = template.render(context)
    except TemplateProblem:
        raise
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
    text = text.strip()
    return text or None
