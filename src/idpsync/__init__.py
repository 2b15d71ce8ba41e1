"""idpsync: pull users, groups and memberships from an identity provider into a directory."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

try:
    __version__ = _distribution_version("idpsync")
    """The installed distribution's version (``idpsync --version``, ``/healthz``, pages)."""
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
