"""Google Workspace baselines with google-api-python-client (threads), against the emulator.

* **naive**: what the Directory API guides show: ``users().list`` with the default page
  (100), ``list_next`` until the end, then each user's groups with ``groups().list(userKey=…)``,
  one user after the other, until the time cap.
* **group-sdk**: ``users().list`` at 500, ``groups().list`` at 200, then each group's
  ``members().list`` at 200, 16 groups in flight in a thread pool (one ``httplib2.Http`` per
  thread: it is not thread-safe); a 429 is retried by the client's own ``num_retries``
  (randomised exponential back-off).

Both stop at their time cap: every page request first checks the run's :class:`Deadline`.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import google_auth_httplib2  # type: ignore[import-untyped]
import httplib2  # type: ignore[import-untyped]
from google.oauth2 import service_account
from googleapiclient.discovery import build  # type: ignore[import-untyped]

from benchmarks.baselines.common import (
    CONCURRENCY,
    Capped,
    Counts,
    Deadline,
    Target,
    secret,
    setting,
)

SCOPES = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
]
RETRIES = 8
"""``execute(num_retries=…)``: how often the client retries a 429 or 5xx with back-off."""


class Directory:
    """A Directory API service on the emulator, with one authorised HTTP object per thread."""

    def __init__(self, target: Target, deadline: Deadline) -> None:
        self.deadline = deadline
        info = json.loads(secret(target, "credentials"))
        self.creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=SCOPES, subject=setting(target.block, "subject")
        )
        self.local = threading.local()
        self.opened: list[httplib2.Http] = []
        self.service = build(
            "admin",
            "directory_v1",
            http=self.http(),
            static_discovery=True,
            client_options={"api_endpoint": setting(target.block, "base_url") + "/"},
            cache_discovery=False,
        )

    def http(self) -> google_auth_httplib2.AuthorizedHttp:
        """This thread's authorised ``httplib2.Http``."""
        if not hasattr(self.local, "http"):
            plain = httplib2.Http(timeout=300)
            self.opened.append(plain)
            self.local.http = google_auth_httplib2.AuthorizedHttp(self.creds, http=plain)
        return self.local.http

    def close(self) -> None:
        """Close every thread's connections."""
        for plain in self.opened:
            plain.close()

    def all(
        self, collection: Any, key: str, into: set[str] | None = None, **query: Any
    ) -> list[dict[str, Any]]:
        """Every item of a listing, paged with the client's ``list_next`` (ids also added to
        ``into`` page by page); :class:`Capped` before a page once the cap is reached."""
        items: list[dict[str, Any]] = []
        request = collection.list(**query)
        while request is not None:
            self.deadline.check()
            page = request.execute(http=self.http(), num_retries=RETRIES)
            items += page.get(key, [])
            if into is not None:
                into.update(x["id"] for x in page.get(key, []))
            request = collection.list_next(request, page)
        return items


def naive(target: Target, cap_s: float) -> Counts:
    """Users with the defaults, then each user's groups, one user after the other."""
    directory, counts = Directory(target, Deadline(cap_s)), Counts()
    try:
        _naive(directory, counts)
    except Capped:
        counts.stopped = True
    finally:
        directory.close()
    return counts


def _naive(directory: Directory, counts: Counts) -> None:
    service = directory.service
    users = directory.all(service.users(), "users", into=counts.users, customer="my_customer")
    counts.visit(len(users), "users")
    for user in users:
        groups = directory.all(service.groups(), "groups", userKey=user["id"])
        for group in groups:
            counts.groups.add(group["id"])
            counts.edges.add((group["id"], user["id"]))
        counts.one_more()


def group_sdk(target: Target, cap_s: float) -> Counts:
    """Users at 500 and groups at 200, then every group's members at 200, 16 in flight."""
    directory, counts = Directory(target, Deadline(cap_s)), Counts()
    pool = ThreadPoolExecutor(CONCURRENCY)
    try:
        _group_sdk(directory, pool, counts)
    except Capped:
        counts.stopped = True
    finally:
        pool.shutdown(cancel_futures=True)  # the requests in flight end, no new one starts
        directory.close()
    return counts


def _group_sdk(directory: Directory, pool: ThreadPoolExecutor, counts: Counts) -> None:
    service = directory.service
    users = pool.submit(
        directory.all, service.users(), "users", counts.users, customer="my_customer",
        maxResults=500,
    )  # fmt: skip
    groups = pool.submit(
        directory.all, service.groups(), "groups", counts.groups, customer="my_customer",
        maxResults=200,
    )  # fmt: skip
    for listing in (users, groups):
        listing.result()  # raises what the listing raised (Capped)
    counts.visit(len(counts.groups), "groups")

    def members(gid: str) -> list[tuple[str, str]]:
        listed = directory.all(service.members(), "members", groupKey=gid, maxResults=200)
        return [(gid, m["id"]) for m in listed if "id" in m]

    for done in [pool.submit(members, gid) for gid in sorted(counts.groups)]:
        counts.edges.update(done.result())
        counts.one_more()
