"""The direct evaluator of mapping templates gives exactly Jinja's result, or hands over.

Compared over generated contexts for every preset, every documented or tested template and
tricky ones (:mod:`tests.template_cases`); the presets must be evaluated fully by the direct
path; and the comparison is shown to catch a deliberately wrong evaluator.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from idpsync.engine.mapping import Mapper
from idpsync.model import SourceUser
from idpsync.template_direct import translate
from idpsync.templating import ENV, TemplateProblem, compile_template, render

from .template_cases import (
    contexts,
    direct_outcome,
    jinja_outcome,
    mismatch,
    plain_contexts,
    presets,
    templates,
)

TEMPLATES = templates()


@pytest.mark.parametrize("source", TEMPLATES.values(), ids=TEMPLATES.keys())
@settings(
    max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_direct_equals_jinja(source: str, data: st.DataObject) -> None:
    direct = translate(ENV, source)
    if direct is None:
        return  # not in the subset: Jinja renders it (checked below for the presets)
    ctx = data.draw(contexts(source))
    assert mismatch(source, direct, ctx) is None


@pytest.mark.parametrize("source", TEMPLATES.values(), ids=TEMPLATES.keys())
def test_render_is_jinjas_render_on_a_typical_user(source: str) -> None:
    ctx: dict[str, Any] = {
        "login": "ada",
        "email": "ada@example.org",
        "attributes": {"profile": {"login": "ada.l@example.org"}, "list": ["A", None]},
    }
    ours: tuple[str, str | None]
    try:
        ours = "text", render(compile_template(source), ctx)
    except TemplateProblem:
        ours = "problem", None
    assert ours == jinja_outcome(source, ctx)


@pytest.mark.parametrize("name", sorted(presets()))
@settings(max_examples=40)
@given(data=st.data())
def test_presets_are_evaluated_fully_by_the_direct_path(name: str, data: st.DataObject) -> None:
    source = presets()[name]
    direct = translate(ENV, source)
    assert direct is not None, f"{name} is not in the direct subset"
    ctx = data.draw(plain_contexts(source))
    ours = direct_outcome(direct, ctx)
    theirs = jinja_outcome(source, ctx)
    # Handed over only where Jinja itself fails (``None | first``, a number's ``first``: a value
    # of a kind the preset does not expect); wherever Jinja renders, the direct path does.
    assert ours is not None or theirs[0] == "problem", f"{name} handed over for {ctx!r}"
    assert ours is None or ours == theirs


def test_mapper_renders_presets_directly() -> None:
    from idpsync.config_policy import MappingSettings

    mapper = Mapper.build(MappingSettings(), presets_of("okta"))
    assert all(getattr(t, "direct", None) is not None for t in mapper.templates.values() if t)
    user = SourceUser(
        source_id="1",
        login="ada",
        email=None,
        attributes={"profile": {"login": "Ada@x.org", "email": "", "firstName": "Ada"}},
    )
    mapped = mapper.map_user(user)
    assert (mapped.login, mapped.email, mapped.given_name) == ("Ada@x.org", None, "Ada")


def presets_of(idp: str) -> dict[str, str]:
    return {k.split(".", 1)[1]: v for k, v in presets().items() if k.startswith(f"{idp}.")}


@pytest.mark.parametrize(
    "source",
    [
        "{{ login | regex_replace('a', 'b') }}",
        "{{ login | replace('a', 'b') }}",
        "{{ login | trim('x') }}",
        "{{ login | default('x') }}",
        "{{ login if email else 'x' }}",
        "{{ attributes._x }}",
        "{{ attributes['__class__'] }}",
        "{{ attributes[login] }}",
        "{{ login[-1] }}",
        "{{ login + 'x' }}",
        "{{ '-' * 3 }}",
        "{{ self }}",
        "{{ first_non_empty(login, x=1) }}",
        "{% if login %}{{ login }}{% endif %}",
        "{% set x = login %}{{ x }}",
        "{{ login is defined }}",
        "{{ [login] }}",
    ],
)
def test_syntax_outside_the_subset_is_left_to_jinja(source: str) -> None:
    assert translate(ENV, source) is None
    assert getattr(compile_template(source), "direct", "missing") is None


@pytest.mark.parametrize(
    ("source", "ctx"),
    [
        ("{{ attributes.items }}", {"attributes": {"items": "x"}}),  # dict.items: the sandbox's
        ("{{ login.upper }}", {"login": "ada"}),
        ("{{ login }}", {"login": object()}),
        ("{{ attributes.a }}", {"attributes": {"a": ("t",)}}),
        ("{{ attributes }}", {"attributes": {"a": [object()]}}),
        ("{{ first_non_empty(login) }}", {"first_non_empty": "x", "login": "a"}),
        ("{{ login }}", {1: "x", "login": "a"}),
        ("{{ login }}", {"login": 10**5000}),
    ],
)
def test_unusual_values_are_handed_to_jinja(source: str, ctx: dict[Any, Any]) -> None:
    direct = translate(ENV, source)
    assert direct is not None
    assert direct(ctx) is None


def test_the_comparison_catches_a_wrong_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    source = presets()["okta.login"].replace("}}", "| lower }}")
    with monkeypatch.context() as patched:
        patched.setitem(ENV.filters, "lower", str.upper)  # a deliberately wrong ``lower``
        wrong = translate(ENV, source)
    assert wrong is not None and ENV.filters["lower"] is not str.upper
    found = find(
        contexts(source),
        lambda ctx: mismatch(source, wrong, ctx) is not None,
        settings=settings(database=None, max_examples=300),
    )
    assert mismatch(source, wrong, found) is not None
    right = translate(ENV, source)
    assert right is not None and mismatch(source, right, found) is None


def test_the_comparison_catches_a_wrong_undefined(monkeypatch: pytest.MonkeyPatch) -> None:
    source = "{{ attributes.mail ~ '|' ~ login }}"
    with monkeypatch.context() as patched:
        patched.setattr(ENV, "undefined", type(None))  # missing values as None: renders "None"
        wrong = translate(ENV, source)
    assert wrong is not None
    found = find(
        contexts(source),
        lambda ctx: mismatch(source, wrong, ctx) is not None,
        settings=settings(database=None, max_examples=300),
    )
    assert mismatch(source, wrong, found) is not None
