"""The tenant's photo control call (a mixin of :class:`~idpsync.emulators.tenant.Tenant`).

A user's photo is a version counter (``photo_version``; 0 = none) that every emulator turns
into its IdP's etag or hash, and the bytes: a stand-in image each emulator derives from the
version, unless a test set its own (``photo``) to serve a picture too large, of the wrong type,
or the same for two users.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idpsync.emulators.tenant import TenantUser


class PhotoControl:
    """``set_photo`` for the tenant (control API: ``POST /_emulator/tenant/set_photo``)."""

    def _require_user(self, user_id: str) -> TenantUser:
        raise NotImplementedError

    def update_user(self, user_id: str, **fields: object) -> TenantUser:
        """Change attributes of a user (the tenant's own method)."""
        raise NotImplementedError

    def set_photo(
        self,
        user_id: str,
        present: bool = True,
        data: str | None = None,
        content_type: str = "image/jpeg",
    ) -> None:
        """Give a user a new photo (``present=True``) or remove it.

        ``data`` (standard base64, as the control API's JSON carries it) is the new image's
        bytes and ``content_type`` the type the IdP declares for them; without ``data`` the
        emulator serves its stand-in image of the new version.
        """
        user = self._require_user(user_id)
        image = base64.b64decode(data) if data is not None else None
        user.photo = (image, content_type) if present and image is not None else None
        self.update_user(user_id, photo_version=(user.photo_version + 1) if present else 0)
