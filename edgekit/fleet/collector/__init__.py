"""The collector side of the fleet: ingest, validation, budgets, metrics, status and the store."""
