"""Account deletion: the request (deactivate now), its cancel, and the purge after the grace
period, run as steps the apps register (registry)."""
