"""The connectors: one package per IdP (``sources/<idp>/``), found through :mod:`.registry`.

This package's own import is light (no connector is imported), so a connector's settings
module can be imported by :mod:`idpsync.config` without pulling in every reader.
"""
