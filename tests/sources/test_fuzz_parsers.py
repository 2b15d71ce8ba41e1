"""Any JSON where a page belongs: each connector ends in its own error type or reads around it.

Every example reads a small emulated directory through :class:`~tests.sources.fuzz_support.
Mutating`, which replaces or damages some answers. The read may be complete, incomplete or
fail with a :class:`~idpsync.sources.base.SourceError`; any other exception is a bug.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.config_policy import PolicySettings
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.errors import SourceError
from idpsync.http import set_testing
from idpsync.model import Snapshot
from idpsync.sources.base import Source
from idpsync.sources.clean import normalise
from idpsync.sources.entra import http_client as entra_client
from idpsync.sources.entra.reader import EntraSource
from idpsync.sources.file.reader import parse_document
from tests.filedata import people
from tests.sources import google_support, okta_support, onelogin_support
from tests.sources.entra_support import source_settings
from tests.sources.fuzz_support import Mutating, Mutation, json_values, mutate, mutations
from tests.sources.keycloak_support import settings_for, source_over

pytestmark = pytest.mark.slow
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FILE_FUZZ = settings(max_examples=200, deadline=None)


@pytest.fixture(autouse=True, scope="module")
def no_sleep() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def is_token(request: httpx.Request) -> bool:
    return "token" in request.url.path


def read(
    make: Callable[[httpx.AsyncBaseTransport], Source],
    inner: httpx.AsyncBaseTransport,
    plan: list[Mutation],
) -> Snapshot | None:
    """One snapshot through the mutating transport; ``None`` when it failed as it may."""

    async def go() -> Snapshot | None:
        source = make(Mutating(inner, plan, is_token))
        try:
            return normalise(await source.snapshot())
        except SourceError as exc:
            assert str(exc).strip()
            return None
        finally:
            await source.aclose()

    return asyncio.run(go())


ENTRA = EntraEmulator.generate(users=6, groups=3, seed=3)
GOOGLE = GoogleEmulator.generate(users=6, groups=3, seed=3)
KEYCLOAK = KeycloakEmulator.generate(users=6, groups=3, seed=3)
ONELOGIN = OneLoginEmulator.generate(users=6, groups=3, roles=2, seed=3)
OKTA = okta_support.emulator(users=6, groups=3, seed=3)


@FUZZ
@given(plan=mutations)
def test_entra(plan: list[Mutation]) -> None:
    def make(transport: httpx.AsyncBaseTransport) -> Source:
        settings = source_settings(ENTRA)
        http = entra_client(settings, transport=transport)
        return EntraSource(settings, http, policy=PolicySettings())

    read(make, ENTRA.transport(), plan)


@FUZZ
@given(plan=mutations)
def test_google(plan: list[Mutation]) -> None:
    def make(transport: httpx.AsyncBaseTransport) -> Source:
        return google_support.source(GOOGLE, transport=transport)

    read(make, GOOGLE.transport(), plan)


@FUZZ
@given(plan=mutations)
def test_keycloak(plan: list[Mutation]) -> None:
    def make(transport: httpx.AsyncBaseTransport) -> Source:
        return source_over(settings_for(KEYCLOAK), transport)

    read(make, KEYCLOAK.transport(), plan)


@FUZZ
@given(plan=mutations)
def test_okta(plan: list[Mutation]) -> None:
    def make(transport: httpx.AsyncBaseTransport) -> Source:
        return okta_support.source(OKTA, transport=transport)

    read(make, OKTA.transport(), plan)


@FUZZ
@given(plan=mutations)
def test_onelogin(plan: list[Mutation]) -> None:
    cfg = onelogin_support.connector(ONELOGIN)

    def make(transport: httpx.AsyncBaseTransport) -> Source:
        return onelogin_support.source(ONELOGIN, cfg, transport)

    read(make, ONELOGIN.transport(), plan)


@FILE_FUZZ
@given(doc=json_values)
def test_file_source_any_json(doc: object) -> None:
    try:
        normalise(parse_document(json.dumps(doc).encode(), "fuzz.json"))
    except SourceError as exc:
        assert str(exc).startswith("fuzz.json: ")


@FILE_FUZZ
@given(plan=mutations, raw=st.binary(max_size=64))
def test_file_source_mutated_document(plan: list[Mutation], raw: bytes) -> None:
    doc = people(4, groups=2)
    for _, how, value, selector in plan:
        target = doc["users"] if selector % 2 else doc["groups"]
        mutate({"items": target} if how != "whole" else doc, how, value, selector // 2)
    for data in (json.dumps(doc).encode(), raw, json.dumps(doc).encode()[: len(raw)]):
        try:
            normalise(parse_document(data, "fuzz.json"))
        except SourceError as exc:
            assert str(exc).startswith("fuzz.json: ")
