"""The Google connector's one failure rule, and its construction from the configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idpsync.config import LoadedConfig, parse_config
from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.http import ConcreteEndpoint, Endpoint
from idpsync.http import errors as e
from idpsync.sources.google.endpoints import GROUP, GROUPS, MEMBERS, PHOTO, USERS
from idpsync.sources.google.reader import RULE
from idpsync.sources.registry import build_source
from tests.sources.google_support import rolling_range, sa_settings, source

MEMBERS_PATH = "/admin/directory/v1/groups/{key}/members"


pytestmark = pytest.mark.usefixtures("no_sleep")


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
    src = source(emu, sa_settings(emu, batch_size=0))  # the fault goes into a single request
    snap = await src.snapshot()
    await src.aclose()
    assert not snap.complete
    assert "members of group" in snap.incomplete_reasons[0]
    # a wrong customer: the users call answers 400 in the batch, then alone (fatal)
    emu.inject(Fault("status", "/admin/directory/v1/users", status=400, times=0))
    src = source(emu)
    with pytest.raises(e.BadRequest):
        await src.snapshot()
    await src.aclose()
    assert emu.requests.count("/admin/directory/v1/users") == 1 + 1  # the first read; alone


async def test_build_from_the_configuration_uses_the_given_transport(tmp_path: Path) -> None:
    emu = GoogleEmulator.generate(users=12, groups=3, seed=2)
    key = tmp_path / "key.json"
    key.write_text(json.dumps(emu.service_account_info("https://oauth2.googleapis.com/token")))
    path = tmp_path / "idpsync.toml"
    text = (
        f'[store]\nurl = "sqlite:///{tmp_path}/d.db"\n\n[connectors.gws.source]\n'
        f'type = "google"\ncredentials = "file:{key}"\nsubject = "{emu.admin_email}"\n'
    )
    path.write_text(text)
    config = LoadedConfig(parse_config(text, str(path)), path)
    src = build_source(config, config.settings.connectors["gws"], transport=emu.transport())
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete and len(snap.users) == 12
    assert len(emu.requests) in rolling_range(emu.tenant)  # the default
