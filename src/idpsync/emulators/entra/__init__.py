"""Microsoft Entra ID / Microsoft Graph emulator (see ``docs/emulators.md``)."""

from idpsync.emulators.entra.emulator import EntraEmulator, bucket_size, request_cost

__all__ = ["EntraEmulator", "bucket_size", "request_cost"]
