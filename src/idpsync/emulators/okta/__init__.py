"""The Okta Management API emulator (see ``docs/emulators.md``)."""

from idpsync.emulators.okta.emulator import GROUP_TYPES, STATUSES, OktaEmulator

__all__ = ["GROUP_TYPES", "STATUSES", "OktaEmulator"]
