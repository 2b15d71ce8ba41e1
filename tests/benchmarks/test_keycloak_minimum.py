"""The Keycloak design minimum follows the connector's default pages (issue #20)."""

from __future__ import annotations

from benchmarks.profiles import PROFILES, Shape, keycloak_minimum


def test_keycloak_minimum_reads_each_listing_in_one_answer_at_l() -> None:
    # 100,000 users and a group of everyone: one answer each at the default pages
    shape = Shape(users=100_000, groups=3, members=[100_000, 30_000, 5], parents=1)
    assert keycloak_minimum(shape) == 1 + 1 + 1 + 1 + 3 + 1  # + events/config
    # the chain: token, the groups page, then the largest group's one page
    assert PROFILES["keycloak"].longest_chain(shape) == 3
