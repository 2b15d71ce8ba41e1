"""The Google connector's one failure rule: which failures end the read, which make it partial."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.http import ConcreteEndpoint, Endpoint, set_testing
from idpsync.http import errors as e
from idpsync.sources.google.endpoints import GROUP, GROUPS, MEMBERS, PHOTO, USERS
from idpsync.sources.google.reader import RULE
from tests.sources.google_support import source

MEMBERS_PATH = "/admin/directory/v1/groups/{key}/members"


@pytest.fixture(autouse=True)
def no_sleep() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def failure(kind: type[e.HttpError], endpoint: Endpoint) -> e.HttpError:
    target = ConcreteEndpoint(endpoint, "https://admin.googleapis.com" + endpoint.url)
    return kind(target, "it failed", "fix it")


@pytest.mark.parametrize("kind", [e.DnsError, e.TlsError, e.ProxyError, e.NotFromIdp])
def test_configuration_failures_end_the_read(kind: type[e.HttpError]) -> None:
    for endpoint in (USERS, GROUPS, MEMBERS, PHOTO):
        assert RULE.fatal(failure(kind, endpoint))


def test_a_400_ends_the_read_unless_it_concerns_one_group() -> None:
    assert RULE.fatal(failure(e.BadRequest, USERS))
    assert RULE.fatal(failure(e.BadRequest, GROUPS))
    assert RULE.fatal(failure(e.BadRequest, PHOTO))
    assert not RULE.fatal(failure(e.BadRequest, MEMBERS))
    assert not RULE.fatal(failure(e.BadRequest, GROUP))
    assert not RULE.fatal(failure(e.NotFound, USERS))
    assert not RULE.fatal(failure(e.ServerError, USERS))


async def test_400_on_one_member_listing_is_partial_on_the_users_listing_fatal() -> None:
    emu = GoogleEmulator.generate(users=30, groups=5, seed=2)
    emu.inject(Fault("status", MEMBERS_PATH, nth=2, status=400))
    src = source(emu)
    snap = await src.snapshot()
    await src.aclose()
    assert not snap.complete
    assert "members of group" in snap.incomplete_reasons[0]
    emu.inject(Fault("status", "/admin/directory/v1/users", status=400))
    src = source(emu)
    with pytest.raises(e.BadRequest):
        await src.snapshot()
    await src.aclose()
