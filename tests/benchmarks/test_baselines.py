"""The fair baselines read exactly the tenant's users and memberships (no timing asserted).

Each IdP's emulator runs in its own process (``idpsync emulate``, as the benchmark starts it)
with a small tenant; every baseline runs whole against it, and its record must say it read all
users, groups and user memberships of the tenant's ground truth, with the requests its design
implies in the emulator's log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from benchmarks.baselines import BASELINES, KINDS, expected, parse_kinds, run_baselines
from benchmarks.baselines.common import (
    Capped,
    Counts,
    Deadline,
    Expected,
    capped,
    retry_after,
    verdict,
)

from benchmarks import baselines, process, report, targets

USERS, GROUPS, SEED, MEDIUM, ROLES = 200, 20, 7, 5, 6
IDPS = sorted(BASELINES)


@pytest.fixture(scope="module", params=IDPS)
def emulated(request: pytest.FixtureRequest) -> Iterator[tuple[str, process.Emulator]]:
    idp: str = request.param
    args = ["--port", "0", "--print-config", "--users", str(USERS), "--groups", str(GROUPS)]
    args += ["--seed", str(SEED)]
    args += ["--roles", str(ROLES)] if idp == "onelogin" else ["--medium-every", str(MEDIUM)]
    emu = process.start_emulator(idp, args)
    try:
        yield idp, emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def records(emulated: tuple[str, process.Emulator]) -> dict[str, dict[str, Any]]:
    idp, emu = emulated
    truth = expected(idp, USERS, GROUPS, SEED, MEDIUM, ROLES)
    done = run_baselines(idp, emu, list(KINDS), cap_s=3600, truth=truth, pause_s=0)
    return {r["kind"]: r for r in done}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_baseline_reads_the_whole_tenant(
    emulated: tuple[str, process.Emulator], records: dict[str, dict[str, Any]], kind: str
) -> None:
    idp, _ = emulated
    truth = expected(idp, USERS, GROUPS, SEED, MEDIUM, ROLES)
    r = records[kind]
    assert r["expected"] == vars(truth)
    assert r["throttled_log"] == 0 and r["requests_log"] > 0
    if idp == "okta" and kind == "naive":
        # the SDK's documented list_users() leaves deprovisioned users out, and the record
        # says so instead of passing for a full read
        assert r["verdict"].startswith(f"read less: users {r['users']} of {USERS}"), r
        assert 0 < r["users"] < truth.users and r["memberships"] < truth.memberships
        return
    assert r["verdict"] == "complete", r
    assert (r["users"], r["memberships"]) == (truth.users, truth.memberships)
    if kind != "naive":  # a per-user read never sees a group without user members
        assert r["groups"] == truth.groups


@pytest.mark.slow
def test_naive_reads_one_groups_request_per_user_and_the_others_one_per_group(
    emulated: tuple[str, process.Emulator], records: dict[str, dict[str, Any]]
) -> None:
    idp, _ = emulated
    naive, group, plain = records["naive"], records["group-sdk"], records["plain-http"]
    assert naive["visited"] == naive["users"] and naive["stopped"] is False
    assert naive["requests_log"] > naive["visited"]
    # the group-centric designs read each group's (OneLogin: each role's) members, plus the
    # listings and a token: far fewer requests than one per user
    members_of = ROLES if idp == "onelogin" else GROUPS
    for r in (group, plain):
        assert members_of < r["requests_log"] < USERS / 2, r


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_every_baseline_stops_at_its_cap_wherever_it_is(
    emulated: tuple[str, process.Emulator], kind: str
) -> None:
    # a cap of 0 s ends every design during its first listing (cancelled at its first await,
    # or stopped before its first page): none runs to its end
    idp, emu = emulated
    (r,) = run_baselines(idp, emu, [kind], cap_s=0.0, other_cap_s=0.0, pause_s=0)
    assert r["stopped"] is True and r["cap_s"] == 0.0, r
    assert r["verdict"].startswith("stopped at the 0 s cap while listing ("), r
    assert r["memberships"] < 10 and r["visited"] is None


def test_a_capped_async_run_keeps_what_it_read() -> None:
    counts = Counts()

    async def work() -> None:
        counts.users.add("u1")
        counts.visit(3, "groups")
        counts.one_more()
        await asyncio.Event().wait()  # never set: only the cap ends this

    assert asyncio.run(capped(counts, 0.01, work())) is counts
    assert counts.stopped and counts.users == {"u1"} and (counts.visited, counts.of) == (1, 3)
    done = Counts()
    assert asyncio.run(capped(done, 60.0, asyncio.sleep(0))) is done and not done.stopped


def test_a_threaded_run_checks_its_deadline_before_each_request() -> None:
    Deadline(60.0).check()  # well before the cap: nothing raised
    with pytest.raises(Capped):
        Deadline(0.0).check()


def test_a_capped_group_centric_run_says_how_far_it_got() -> None:
    record = {"users": 100_000, "groups": 5_000, "memberships": 240_000, "cap_s": 900.0,
              "stopped": True, "visited": 1_234, "of": 5_000, "unit": "groups"}  # fmt: skip
    text = verdict(record, Expected(100_000, 5_000, 996_038), None)
    assert text == "stopped at the 900 s cap after 1234 of 5000 groups"
    listing = {**record, "users": 41_000, "groups": 0, "memberships": 0, "visited": None}
    assert verdict(listing, None, None) == (
        "stopped at the 900 s cap while listing (41000 users, 0 groups listed, 0 memberships read)"
    )


def test_onelogins_reset_header_is_waited_out() -> None:
    assert retry_after(httpx.Response(429, headers={"X-RateLimit-Reset": "1800"})) == 1800.0
    assert retry_after(httpx.Response(429, headers={"Retry-After": "3"})) == 3.0


class _Fake:
    def __init__(self, name: str) -> None:
        self.name, self.stopped = name, False

    def stop(self) -> None:
        self.stopped = True


def test_fresh_emulators_one_per_baseline_with_the_other_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, str, float]] = []

    def fake_measure(idp: str, kind: str, design: str, target: Any, *rest: Any) -> dict[str, Any]:
        seen.append((kind, target.name, rest[1]))
        assert not target.stopped
        return {"kind": kind, "wall_s": 1.0, "verdict": "complete"}

    monkeypatch.setattr(baselines, "measure", fake_measure)
    made: list[_Fake] = []

    def fresh() -> Any:
        made.append(_Fake(f"fresh{len(made)}"))
        return made[-1]

    shared: Any = _Fake("shared")
    done = run_baselines(
        "onelogin", shared, list(KINDS), cap_s=60, other_cap_s=900, pause_s=0, fresh=fresh
    )
    assert seen == [("naive", "fresh0", 60), ("group-sdk", "fresh1", 900),
                    ("plain-http", "fresh2", 900)]  # fmt: skip
    assert all(e.stopped for e in made) and not shared.stopped
    assert [r["emulator"] for r in done] == ["fresh"] * 3
    assert "onelogin" in baselines.FRESH and "keycloak" not in baselines.FRESH
    seen.clear()
    (plain,) = run_baselines("keycloak", shared, ["plain-http"], other_cap_s=5, pause_s=0)
    assert seen == [("plain-http", "shared", 5)] and "emulator" not in plain


def test_the_harness_gives_onelogins_baselines_fresh_emulators_and_the_untouched_truth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks import run

    got: dict[str, Any] = {}

    def fake_run(idp: str, emu: Any, kinds: list[str], **kw: Any) -> list[dict[str, Any]]:
        got.update(kw, fresh_emu=kw["fresh"]() if kw["fresh"] else None)
        return []

    started: list[list[str]] = []
    monkeypatch.setattr(baselines, "run_baselines", fake_run)
    monkeypatch.setattr(process, "start_emulator", lambda idp, args, pre=(): started.append(args))
    run._baselines("onelogin", None, "S", 7, ["group-sdk"], (60, 900), 0)  # type: ignore[arg-type]
    assert (got["cap_s"], got["other_cap_s"]) == (60, 900)
    assert got["truth"] == expected("onelogin", 10_000, 500, 7, 3, 50)  # before the change
    assert started and "--seed" in started[0] and "7" in started[0]


def test_a_capped_naive_run_is_reported_as_stopped_not_extrapolated() -> None:
    record = {"users": 10_000, "visited": 412, "cap_s": 300.0, "stopped": True}
    text = verdict(record, Expected(10_000, 500, 100_000), None)
    assert text == "stopped at the 300 s cap after 412 of 10000 users"


def test_a_baseline_that_read_less_is_flagged() -> None:
    record = {"users": 9_990, "groups": 500, "memberships": 99_000}
    text = verdict(record, Expected(10_000, 500, 100_000), None)
    assert text == "read less: users 9990 of 10000, memberships 99000 of 100000"
    assert verdict(record, None, "HTTPError: 500").startswith("failed (HTTPError")
    assert Counts(users={"u"}, edges={("g", "u"), ("g", "device")}).user_edges() == 1


def test_kinds_are_parsed_and_a_bad_one_is_named() -> None:
    assert parse_kinds("all") == list(KINDS)
    assert parse_kinds("naive,plain-http") == ["naive", "plain-http"]
    with pytest.raises(ValueError, match="unknown baseline 'sdk'"):
        parse_kinds("naive,sdk")


def test_every_idp_has_every_kind() -> None:
    assert {idp: sorted(kinds) for idp, kinds in BASELINES.items()} == {
        idp: sorted(KINDS) for idp in ("entra", "google", "keycloak", "okta", "onelogin")
    }


def _base(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "idp": "okta", "kind": "group-sdk", "design": "d", "date": "x", "wall_s": 101.0,
        "cpu_s": 3.0, "requests_log": 71, "throttled_log": 0, "users": 10, "groups": 2,
        "memberships": 5, "verdict": "complete",
        "expected": {"users": 10, "groups": 2, "memberships": 5},
    }  # fmt: skip
    return {**b, **over}


def test_baseline_table_gives_measured_speed_ups_and_flags() -> None:
    rows = [
        {"idp": "okta", "kind": "full", "store": "sqlite", "wall_s": 10.1},
        {"idp": "okta", "kind": "full", "store": "postgresql", "wall_s": 1.0},
    ]
    naive = _base(kind="naive", wall_s=300.4, visited=12, cap_s=300.0, stopped=True)
    naive["verdict"] = "stopped at the 300 s cap after 12 of 10 users"
    short = _base(kind="plain-http", wall_s=20.2, memberships=4)
    short["verdict"] = "read less: memberships 4 of 5"
    text = report.baseline_section([_base(), naive, short], rows)
    assert "extrapolat" not in text.split("###", 2)[1].split("\n\n", 1)[1].lower()
    assert (
        "| okta | group-sdk | d | 101.0 | 3.0 | 71 | 0 | 10 / 2 / 5 | complete | 10.1 | 10.0× |"
        in (text)
    )
    assert "| > 300.4 |" in text and "> 29.7×" in text
    assert "| 4 of 5 " not in text and "**read less: memberships 4 of 5**" in text
    assert "| (2.0×, read less) |" in text


def test_a_capped_group_centric_baseline_is_a_lower_bound_and_fresh_ones_are_marked() -> None:
    rows = [{"idp": "okta", "kind": "full", "store": "sqlite", "wall_s": 10.0}]
    group = _base(wall_s=900.6, cap_s=900.0, stopped=True, visited=7, of=9, unit="groups")
    group["verdict"] = "stopped at the 900 s cap after 7 of 9 groups"
    text = report.baseline_section([group, _base(kind="plain-http", emulator="fresh")], rows)
    assert "| group-sdk | d | > 900.6 |" in text and "| > 90.1× |" in text
    assert "| stopped at the 900 s cap after 7 of 9 groups |" in text
    assert "| plain-http † | d | 101.0 |" in text and report.FRESH_NOTE in text


def test_merge_keeps_other_idps_and_replaces_the_rerun_kinds() -> None:
    old = [_base(idp="google"), _base(), _base(kind="naive")]
    merged = report.merge_baselines(old, "okta", [_base(wall_s=5.0)])
    assert [(b["idp"], b["kind"], b["wall_s"]) for b in merged] == [
        ("google", "group-sdk", 101.0),
        ("okta", "naive", 101.0),
        ("okta", "group-sdk", 5.0),
    ]
    legacy = {"idp": "entra", "estimated_wall_s": 68_000.0}
    assert report.merge_baselines([legacy], "entra", [_base(idp="entra")]) == [_base(idp="entra")]


def test_both_commands_reject_an_unknown_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.baselines.__main__ import main

    from benchmarks import run

    with pytest.raises(SystemExit):
        run.main(["--idp", "okta", "--baselines", "naive,sdk"])
    with pytest.raises(SystemExit):
        main(["--idp", "okta", "--baselines", "sdk"])
    err = capsys.readouterr().err
    assert err.count("unknown baseline 'sdk'; choose from naive, group-sdk, plain-http") == 2


def test_a_kept_baseline_is_compared_with_idpsync_of_its_own_run() -> None:
    def full(wall: float) -> dict[str, Any]:
        return {"idp": "okta", "kind": "full", "store": "sqlite", "wall_s": wall, "date": "d"}

    old_run = {"okta": {"date": "d", "command": "c", "machine": {}}}

    plain = _base(kind="plain-http", wall_s=177.0)  # measured beside a full sync of 71 s
    old = {"size": "L", "idps": old_run, "rows": [full(71.0)], "baselines": [plain]}
    group = _base(wall_s=800.0, stopped=True, cap_s=800.0, visited=4, of=5, unit="groups")
    group["verdict"] = "stopped at the 800 s cap after 4 of 5 groups"
    merged = report.merge(old, "L", "okta", [full(58.0)], [group], "cmd")
    by_kind = {b["kind"]: b for b in merged["baselines"]}
    assert by_kind["plain-http"]["idpsync_wall_s"] == 71.0
    assert by_kind["group-sdk"]["idpsync_wall_s"] == 58.0
    text = report.baseline_section(merged["baselines"], merged["rows"])
    assert "| complete | 71.0 | 2.5× |" in text and "| 58.0 | > 13.8× |" in text
    cells = targets.cells(merged, "okta")
    assert cells[4].startswith("✓ > 13.8 ×") and cells[5].startswith("✓ 2.5 × (177 s / 71 s)")
