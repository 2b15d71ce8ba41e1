"""The sync engine: the pure decisions of a run (policy, mapping, plan, guard, cleanup).

Nothing here reads an IdP, the store or the network: :mod:`idpsync.app` does the input and
output around it and hands the engine what it needs (the mapping preset of the connector's
source type, the directory state, the names already taken).
"""
