"""Emulators: ASGI apps that behave like the real servers idpsync talks to, for tests.

They share no code with the connectors or targets (nothing from ``idpsync.sources``,
``http``, ``auth``, ``engine``, ``store`` or ``targets`` is imported here).
"""
