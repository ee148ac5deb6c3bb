"""Consent registry: whether a user's connection may still be refreshed, and its history."""
