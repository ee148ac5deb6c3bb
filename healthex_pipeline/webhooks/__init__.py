"""Receiver for Fasten Connect webhooks: verify, deduplicate, store for a Dagster sensor."""
