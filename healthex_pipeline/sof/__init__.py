"""SQL-on-FHIR v2: compile ViewDefinitions to set-based DuckDB SQL over JSON resources."""
