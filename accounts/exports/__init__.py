"""Account export: a ZIP of what a user has here (each app's own section, through the registry
in `registry`) plus their media, built by a task, stored privately, downloadable for a while."""
