"""The application layer: the services that run a sync (read the IdP, decide, write the store).

:mod:`idpsync.app.run` builds a connector's source and runs it (the command line and the
service both go through it), :mod:`idpsync.app.runner` runs one sync of a whole connector,
:mod:`idpsync.app.single` syncs one user. The decisions themselves are the engine's
(:mod:`idpsync.engine`); the connectors are in :mod:`idpsync.sources`.
"""
