"""Clients for the vendors that deliver users' records (see ``docs/vendor-apis.md``)."""
