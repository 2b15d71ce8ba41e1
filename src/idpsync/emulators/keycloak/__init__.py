"""The Keycloak Admin REST emulator (see ``docs/emulators.md``)."""

from idpsync.emulators.keycloak.emulator import KeycloakEmulator

__all__ = ["KeycloakEmulator"]
