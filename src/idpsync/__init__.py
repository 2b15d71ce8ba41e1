"""idpsync: pull users, groups and memberships from an identity provider into a directory."""

__version__ = "0.1.0"
