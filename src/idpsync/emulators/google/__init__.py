"""The Google Workspace (Admin SDK Directory API v1) emulator; see ``docs/emulators.md``."""

from idpsync.emulators.google.emulator import GoogleEmulator
from idpsync.emulators.google.tenant import GoogleTenant

__all__ = ["GoogleEmulator", "GoogleTenant"]
