"""A reconcile puts back a photo changed or removed in the target itself (scim2-server, slapd).

The target's photos are read with the reconcile's listing (SCIM: the ``photos`` of each user,
no request more; LDAP: ``jpegPhoto`` in the same searches) and compared by digest with the
one idpsync left there. A photo the application holds for a user without one in the IdP is
left alone.
"""

from __future__ import annotations

import httpx
import ldap3
import pytest

from idpsync.store import Store
from tests.targets.scim_support import TOKEN, Directory, ScimServer
from tests.targets.slapd_support import SUFFIX, Slapd
from tests.targets.test_photos_e2e import (
    JPEG,
    JPEG_2,
    Photos,
    decoded,
    deliver_ldap,
    deliver_scim,
    jpeg_photo,
    scim_photos,
)

pytestmark = pytest.mark.slow
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch_user(url: str, login: str, operation: dict[str, object]) -> None:
    """Change a user in scim2-server by hand (plain httpx)."""
    with httpx.Client(base_url=url + "/", headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        found = c.get("Users", params={"filter": f'userName eq "{login}"'}).json()["Resources"]
        body = {"schemas": [PATCH], "Operations": [operation]}
        c.patch(f"Users/{found[0]['id']}", json=body).raise_for_status()


async def test_scim_reconcile_puts_back_a_removed_or_replaced_photo(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    photos = Photos()
    photos.put("v1", JPEG)
    directory.user("u1", "ada", photo_ref="v1")
    directory.user("u2", "bob")
    directory.user("u3", "cyd", photo_ref="v1")
    await directory.sync(sqlite_store)
    await deliver_scim(sqlite_store, scim_server.url, photos)
    own = [{"value": "https://app.example/avatars/bob.png", "type": "photo"}]
    patch_user(scim_server.url, "bob", {"op": "replace", "path": "photos", "value": own})
    patch_user(scim_server.url, "ada", {"op": "remove", "path": "photos"})
    url = [{"value": "https://app.example/avatars/cyd.png", "type": "photo"}]
    patch_user(scim_server.url, "cyd", {"op": "replace", "path": "photos", "value": url})

    repaired, counting = await deliver_scim(sqlite_store, scim_server.url, photos, reconcile=True)
    assert repaired.counts.get("photos_repaired") == 2
    assert repaired.counts.get("photos_sent") == 2
    assert [w for w in repaired.warnings if "photo" in w] == [
        f"photo of user {login!r} (hr) in the target is not the one idpsync delivered; "
        "the reconcile sets it again"
        for login in ("ada", "cyd")
    ]
    held = scim_photos(scim_server.url)
    assert decoded(held["ada"][0]["value"]) == ("image/jpeg", JPEG)
    assert decoded(held["cyd"][0]["value"]) == ("image/jpeg", JPEG)
    assert held["bob"] == own  # the application's own photo: idpsync never sent bob one

    again, counting = await deliver_scim(sqlite_store, scim_server.url, photos, reconcile=True)
    assert counting.writes == [] and "photos_repaired" not in again.counts


async def test_ldap_reconcile_puts_back_a_jpeg_changed_by_hand(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    photos = Photos()
    photos.put("v1", JPEG)
    directory.user("u1", "ada", photo_ref="v1")
    await directory.sync(sqlite_store)
    await deliver_ldap(sqlite_store, slapd, photos)
    with slapd.connect() as conn:
        dn = f"uid=ada,ou=people,{SUFFIX}"
        conn.modify(dn, {"jpegPhoto": [(ldap3.MODIFY_REPLACE, [JPEG_2])]})
    assert jpeg_photo(slapd, "ada") == [JPEG_2]

    repaired, modified = await deliver_ldap(sqlite_store, slapd, photos, reconcile=True)
    assert repaired.counts.get("photos_repaired") == 1 and len(modified) == 1
    assert jpeg_photo(slapd, "ada") == [JPEG]
    again, modified = await deliver_ldap(sqlite_store, slapd, photos, reconcile=True)
    assert modified == [] and "photos_repaired" not in again.counts
