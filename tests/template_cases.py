"""The templates and contexts the direct evaluator is compared with Jinja on.

Templates: every source preset, the targets' default attribute templates, every ``{{ … }}`` in
``docs/mapping.md``, ``examples/`` and the tests, and :data:`TRICKY` ones. Contexts: nested
dicts of the names a template mentions and of names the sandbox treats specially (``items``,
``get``, ``pop``, ``_x``, ``__class__``…), holding ``None``, booleans, numbers, odd Unicode,
blank and huge strings, lists (empty, of ``None``), dicts, and values of other types.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from jinja2 import Template

from idpsync.config_attributes import DEFAULTS
from idpsync.template_direct import Direct
from idpsync.templating import ENV, TemplateProblem, compile_template, render

ROOT = Path(__file__).resolve().parent.parent
IDPS = ("entra", "google", "keycloak", "okta", "onelogin")


def presets() -> dict[str, str]:
    """``idp.field`` → the template of every source type's preset."""
    found = {}
    for idp in IDPS:
        preset = importlib.import_module(f"idpsync.sources.{idp}.mapping").PRESET
        found.update({f"{idp}.{field}": source for field, source in preset.items()})
    return found


def _snippets() -> set[str]:
    """Every ``{{ … }}`` written in the mapping docs, the examples and the tests."""
    files = [ROOT / "docs" / "mapping.md", *(ROOT / "examples").rglob("*.toml")]
    files += [p for p in (ROOT / "tests").rglob("*.py") if p.name != "template_cases.py"]
    found = set()
    for path in files:
        for match in re.findall(r"\{\{.*?\}\}", path.read_text(encoding="utf-8")):
            found.add(match.replace(r"\|", "|"))
    return found


TRICKY = [
    "{{ attributes.items }}",
    "{{ attributes.get }}",
    "{{ attributes.pop }}",
    "{{ attributes['items'] }}",
    "{{ attributes['get'] | fallback(login) }}",
    "{{ attributes._x }}",
    "{{ attributes['_x'] }}",
    "{{ login.upper }}",
    "{{ login.startswith }}",
    "{{ attributes.list[0] }}",
    "{{ attributes.list.0 | lower }}",
    "{{ attributes.list[1] | upper }}",
    "{{ attributes.real }}",
    "{{ active }}",
    "{{ active ~ '-' ~ manager_id }}",
    "{{ attributes | first }}",
    "{{ attributes.list | first | fallback('none') }}",
    "{{ attributes.list | lower }}",
    "{{ attributes.list }}",
    "{{ attributes }}",
    "{{ missing.deeper.still | trim }}",
    "{{ none_value | upper }} {{ none_value ~ 'x' }}",
    "  {{ login }}  ",
    "{{ login }}@{{ attributes.domain | fallback('example.org') }}",
    "{{ first_non_empty }}",
    "{{ first_non_empty(attributes.a, attributes.b, login) }}",
    "{{ (attributes.a or attributes.b) and login }}",
    "{{ not attributes.a }}",
    "{{ login | trim | lower | upper }}",
    "{{ email | domain }}/{{ email | strip_domain }}",
    "{{ attributes.upn | entra_guest | strip_domain }}",
    "{{ self }}",
    "{{ login | trim('x') }}",
    "{{ attributes.a | default('d') }}",
    "{{ 42 }}{{ 1.5 }}{{ none }}{{ true }}",
    "text only",
    "",
    "{{ login[0] }}{{ login['x'] }}",
    "{{ attributes.a.b.c.d | first }}",
]
"""Templates on the edges of the subset, and some just outside it (left to Jinja)."""


def templates() -> dict[str, str]:
    """Every template the comparison runs on that compiles, by a readable id."""
    found = {**presets(), **{f"default.{i}": s for i, s in enumerate(_defaults())}}
    for source in sorted(_snippets()) + TRICKY:
        found.setdefault(source, source)
    kept = {}
    for key, source in found.items():
        try:
            compile_template(source)
        except TemplateProblem:
            continue
        kept[key] = source
    return kept


def _defaults() -> list[str]:
    return sorted({source for table in DEFAULTS.values() for source in table.values()})


class Opaque:
    """A value of a type the direct path does not handle (Jinja's sandbox decides)."""

    login = "opaque-login"

    def __str__(self) -> str:
        return "opaque"


HUGE = "x" * 200_000
SPECIAL = ["items", "get", "pop", "keys", "upper", "real", "_x", "__class__", "first_non_empty"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.builds(pow, st.just(10), st.just(5000)),  # str() refuses it on either path
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "\t\n\u00a0\u2003",
            "ada@example.org",
            "Ada@Example.ORG",
            "CORP\\ada",
            "ada_example.org#EXT#@t.onmicrosoft.com",
            "İstanbul ß ǅ ﬁ",
            "\U0001f600\u0301",
            HUGE,
        ]
    ),
)


STRINGS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "ada@example.org", "CORP\\ada", "x_y.org#EXT#@t.onmicrosoft.com"]),
)


Tree = dict[str, "Tree"]


def paths_in(source: str) -> Tree:
    """The names ``source`` looks up, as a tree: ``a.b.c`` → ``{"a": {"b": {"c": {}}}}``."""
    tree: Tree = {}
    for path in re.findall(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", source):
        level = tree
        for name in path.split("."):
            level = level.setdefault(name, {})
    return tree


def contexts(source: str) -> st.SearchStrategy[dict[str, Any]]:
    """Contexts for ``source``: its paths filled in or not, and the sandbox's special names.

    At every level each name is present or not and holds a dict along the template's paths
    or any value: strings most often, ``None``, numbers, containers, other types.
    """
    tree = paths_in(source)
    names = sorted(set(_names(tree)) | set(SPECIAL))
    leaves = st.one_of(STRINGS, STRINGS, SCALARS, st.builds(Opaque), st.tuples(st.text(max_size=3)))
    values: st.SearchStrategy[Any] = st.one_of(
        leaves,
        leaves,
        st.lists(leaves, max_size=3),
        st.lists(st.none(), max_size=2),
        st.dictionaries(st.sampled_from(names), st.one_of(leaves, st.lists(leaves)), max_size=3),
    )

    def shaped(level: Tree) -> st.SearchStrategy[dict[str, Any]]:
        along = {
            k: st.one_of(shaped(sub), shaped(sub), values) if sub else values
            for k, sub in level.items()
        }
        extra = {k: values for k in SPECIAL if k not in along}
        return st.one_of(
            st.fixed_dictionaries(along, optional=extra),  # every path of the template there
            st.fixed_dictionaries({}, optional={**along, **extra}),
        )

    return shaped(tree)


def _names(tree: Tree) -> list[str]:
    return [name for key, sub in tree.items() for name in (key, *_names(sub))]


def plain_contexts(source: str) -> st.SearchStrategy[dict[str, Any]]:
    """Contexts as the mapping builds them: JSON values, no names the sandbox treats specially."""
    keys = st.sampled_from([n for n in _names(paths_in(source)) if n not in SPECIAL])
    json = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=8)),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=12,
    )
    return st.dictionaries(keys, json, max_size=8)


Outcome = tuple[str, str | None]


def jinja_outcome(source: str, ctx: dict[str, Any]) -> Outcome:
    """What :func:`render` gives by Jinja alone: ``("text", …)`` or ``("problem", None)``."""
    template = _jinja(source)
    try:
        return "text", render(template, ctx)
    except TemplateProblem:
        return "problem", None


@cache
def _jinja(source: str) -> Template:
    """``source`` compiled by Jinja with no direct evaluator attached: Jinja renders it."""
    return ENV.from_string(source)


def direct_outcome(direct: Direct, ctx: dict[str, Any]) -> Outcome | None:
    """What the direct path gives (as :func:`render` returns it), ``None`` if it hands over."""
    text = direct(ctx)
    return None if text is None else ("text", text.strip() or None)


def mismatch(source: str, direct: Direct, ctx: dict[str, Any]) -> str | None:
    """Why the direct result differs from Jinja's for ``ctx``; ``None`` if it does not.

    Handing over to Jinja is never a mismatch (Jinja then renders); a result where Jinja
    fails is one.
    """
    ours = direct_outcome(direct, ctx)
    if ours is None:
        return None
    theirs = jinja_outcome(source, ctx)
    return None if ours == theirs else f"{source!r}: direct {ours!r}, Jinja {theirs!r}"
