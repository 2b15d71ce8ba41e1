"""The OneLogin emulator (``/api/1``, ``/api/2``, token and rate-limit endpoints)."""

from idpsync.emulators.onelogin.account import Account, OneLoginUser, generate_account
from idpsync.emulators.onelogin.emulator import OneLoginEmulator

__all__ = ["Account", "OneLoginEmulator", "OneLoginUser", "generate_account"]
