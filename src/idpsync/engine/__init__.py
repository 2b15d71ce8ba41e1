"""The sync engine: policy, plan, guard and the runner that orchestrates a run."""
