"""The ``google`` source's settings: one sign-in mode, secrets by reference, clear errors."""

from __future__ import annotations

import pytest

from idpsync.config import ConfigError, parse_config


def config(body: str) -> str:
    return '[connectors.gws.source]\ntype = "google"\n' + body


def test_service_account_needs_a_subject(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GWS_KEY", '{"type": "service_account"}')
    with pytest.raises(ConfigError) as error:
        parse_config(config('credentials = "env:GWS_KEY"\n'))
    assert "needs 'subject'" in str(error.value)
    assert "service_account" not in str(error.value)


def test_one_mode_only_and_no_inline_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as none:
        parse_config(config(""))
    assert "client_id + client_secret" in str(none.value)
    with pytest.raises(ConfigError) as inline:
        parse_config(config('client_id = "x"\nclient_secret = "hunter2-secret"\n'))
    assert "hunter2-secret" not in str(inline.value)
    assert "not written inline" in str(inline.value)
    monkeypatch.setenv("GWS_SECRET", "s")
    monkeypatch.setenv("GWS_KEY", "{}")
    with pytest.raises(ConfigError) as both:
        parse_config(
            config(
                'client_id = "x"\nclient_secret = "env:GWS_SECRET"\n'
                'credentials = "env:GWS_KEY"\nsubject = "a@b.c"\n'
            )
        )
    assert "either credentials" in str(both.value)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GWS_SECRET", "s")
    settings = parse_config(config('client_id = "x"\nclient_secret = "env:GWS_SECRET"\n'))
    source = settings.connectors["gws"].source
    assert source.type == "google"
    assert (source.customer, source.quota, source.nested, source.fetch_photos) == (
        "my_customer",
        2400,
        False,
        False,
    )


def test_a_bad_key_file_is_named_without_its_content() -> None:
    from pydantic import SecretStr

    from idpsync.errors import SourceError
    from idpsync.sources.google import http_client
    from idpsync.sources.google.settings import GoogleSourceSettings

    settings = GoogleSourceSettings.model_validate(
        {
            "type": "google",
            "credentials": SecretStr('{"private": "zzz-secret"}'),
            "subject": "a@b.c",
        }
    )
    with pytest.raises(SourceError) as error:
        http_client(settings)
    assert "not a Google service account key" in str(error.value)
    assert "zzz-secret" not in str(error.value)
