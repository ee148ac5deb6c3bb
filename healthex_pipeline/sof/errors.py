"""The one exception the SQL-on-FHIR compiler raises for views it cannot accept."""

from __future__ import annotations


class ViewDefinitionError(ValueError):
    """A ViewDefinition (or a FHIRPath inside it) is invalid or uses an unsupported feature.

    The message names the offending element (e.g. ``select[1].column[0].path``) so an
    author can fix the view without reading compiler internals.
    """
