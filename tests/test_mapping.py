"""The template language, presets, and mapping errors."""

from __future__ import annotations

import pytest

from idpsync.config import ConfigError, parse_config
from idpsync.config_policy import MappingSettings
from idpsync.engine.mapping import Mapper, MappingError
from idpsync.model import SourceUser
from idpsync.sources.registry import CONNECTORS, preset
from idpsync.templating import TemplateProblem, compile_template, render


def user(**attributes: object) -> SourceUser:
    return SourceUser(
        source_id="id-1",
        login="fallback-login",
        email="f@example.org",
        display_name="Fallback",
        attributes=attributes,
    )


def r(source: str, **attributes: object) -> str | None:
    from idpsync.engine.mapping import context

    return render(compile_template(source), context(user(**attributes)))


def test_filters() -> None:
    assert r("{{ attributes.mail | fallback(attributes.upn, email) }}") == "f@example.org"
    assert r("{{ attributes.mail | fallback(attributes.upn) }}", upn="x@y") == "x@y"
    assert r("{{ first_non_empty(attributes.a, '', attributes.b) }}", a="  ", b="B") == "B"
    assert r("{{ attributes.upn | strip_domain | lower }}", upn="Ada@Example.org") == "ada"
    assert r("{{ attributes.sam | strip_domain }}", sam="CORP\\ada") == "ada"
    assert r("{{ attributes.upn | domain }}", upn="ada@example.org") == "example.org"
    assert r("{{ attributes.n | regex_replace('[^a-z]', '') }}", n="a.d-a1") == "ada"
    assert (
        r(r"{{ attributes.n | regex_replace('(\\w+) (\\w+)', '\\2.\\1') }}", n="Ada King")
        == "King.Ada"
    )
    assert (
        r(
            "{{ attributes.upn | entra_guest }}",
            upn="ada.king_example.org#EXT#@tenant.onmicrosoft.com",
        )
        == "ada.king@example.org"
    )
    assert r("{{ attributes.missing.deeper }}") is None


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ attributes.__class__ }}",
        "{{ attributes.update({'x': 1}) }}",
        "{{ login.__init__.__globals__ }}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 999999 }}",
    ],
)
def test_sandbox_blocks_code_execution(source: str) -> None:
    with pytest.raises(TemplateProblem):
        render(compile_template(source), {"attributes": {}, "login": "x"})


def test_small_arithmetic_still_works() -> None:
    assert r("{{ '-' * 3 }}{{ 2 * 21 }}") == "---42"


def test_no_python_globals() -> None:
    for name in ("range", "lipsum", "cycler", "dict", "namespace"):
        assert r("{{ " + name + " }}") is None


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ attributes.mail | no_such_filter }}", "No filter named 'no_such_filter'"),
        ("{{ attributes.mail ", "unexpected end of template"),
    ],
)
def test_template_errors_are_config_errors_naming_the_key(template: str, problem: str) -> None:
    text = f"""
[connectors.hr.source]
type = "file"
path = "people.json"

[connectors.hr.policy.mapping]
email = {template!r}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "idpsync.toml")
    line = caught.value.problems[0]
    assert line.startswith("idpsync.toml:7: connectors.hr.policy.mapping.email:")
    assert problem in line


def test_bad_regex_and_filter_shapes_are_config_errors() -> None:
    text = """
[connectors.hr.source]
type = "file"
path = "p.json"

[[connectors.hr.policy.user_filters]]
action = "exclude"
field = "email"
op = "matches"
value = "("

[[connectors.hr.policy.user_filters]]
action = "include"
field = "email"
op = "in"
value = "x"
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    joined = "\n".join(caught.value.problems)
    assert "user_filters.0" in joined and "invalid regular expression" in joined
    assert "user_filters.1" in joined and "needs a list" in joined


def test_all_presets_compile_and_map_a_bare_user() -> None:
    for source_type in CONNECTORS:
        mapped = Mapper.build(MappingSettings(), preset(source_type)).map_user(user())
        assert mapped.login == "fallback-login"
        assert mapped.email == "f@example.org"


def test_entra_preset_handles_guests() -> None:
    mapper = Mapper.build(MappingSettings(), preset("entra"))
    guest = user(
        userPrincipalName="ada_example.org#EXT#@contoso.onmicrosoft.com",
        mail=None,
        givenName="Ada",
        surname="King",
        displayName="Ada King",
    )
    mapped = mapper.map_user(guest)
    assert (mapped.login, mapped.email) == ("ada@example.org", "ada@example.org")
    assert (mapped.given_name, mapped.family_name, mapped.display_name) == (
        "Ada",
        "King",
        "Ada King",
    )


def test_google_okta_keycloak_onelogin_presets() -> None:
    g = Mapper.build(MappingSettings(), preset("google")).map_user(
        user(primaryEmail="ada@example.org", name={"givenName": "Ada", "fullName": "Ada K"})
    )
    assert (g.login, g.given_name, g.display_name) == ("ada@example.org", "Ada", "Ada K")
    o = Mapper.build(MappingSettings(), preset("okta")).map_user(
        user(profile={"login": "ada@ex.org", "lastName": "King"})
    )
    assert (o.login, o.family_name) == ("ada@ex.org", "King")
    k = Mapper.build(MappingSettings(), preset("keycloak")).map_user(
        SourceUser(
            "k1", "ada", attributes={"username": "ada", "firstName": "Ada", "lastName": "King"}
        )
    )
    assert k.display_name == "Ada King"
    one = Mapper.build(MappingSettings(), preset("onelogin")).map_user(
        SourceUser("1", "x", attributes={"username": "ada", "firstname": "Ada"})
    )
    assert (one.login, one.given_name) == ("ada", "Ada")


def test_configured_templates_override_the_preset_and_extras() -> None:
    settings = MappingSettings(
        login="{{ email | strip_domain | lower }}",
        attributes={"department": "{{ attributes.dept | upper }}"},
        keep_source_attributes=False,
    )
    mapped = Mapper.build(settings, preset("entra")).map_user(user(dept="rnd", secret="x"))
    assert mapped.login == "f"
    assert mapped.attributes == {"department": "RND"}


def test_empty_or_invalid_login_is_a_mapping_error() -> None:
    empty = Mapper.build(MappingSettings(login="{{ attributes.nothing }}"), preset("file"))
    with pytest.raises(MappingError, match="empty"):
        empty.map_user(user())
    spaced = Mapper.build(MappingSettings(login="{{ display_name }} x"), preset("file"))
    with pytest.raises(MappingError, match="not valid"):
        spaced.map_user(user())
    failing = Mapper.build(
        MappingSettings(login="{{ attributes.n | regex_replace('(', '') }}"), preset("file")
    )
    with pytest.raises(MappingError, match="invalid pattern"):
        failing.map_user(user(n="x"))


def test_nulls_render_empty_not_none() -> None:
    mapped = Mapper.build(
        MappingSettings(
            email="{{ email | lower }}",
            display_name="{{ given_name ~ ' ' ~ family_name }}",
            attributes={"mail": "{{ attributes.mail }}", "x": "{{ attributes.a.b | upper }}"},
        ),
        preset("file"),
    ).map_user(SourceUser("1", "ada", attributes={"mail": None, "a": {"b": None}}))
    assert mapped.email is None and mapped.display_name is None
    assert mapped.attributes["mail"] is None and mapped.attributes["x"] is None


def test_toml_literal_strings_keep_regex_backslashes() -> None:
    text = """
[connectors.hr.source]
type = "file"
path = "p.json"

[connectors.hr.policy.mapping]
login = '{{ display_name | regex_replace("(\\\\w+) (\\\\w+)", "\\\\2.\\\\1") | lower }}'
"""
    mapping = parse_config(text).connectors["hr"].policy.mapping
    mapper = Mapper.build(mapping, preset("file"))
    mapped = mapper.map_user(SourceUser("1", "x", display_name="Ada King"))
    assert mapped.login == "king.ada"
