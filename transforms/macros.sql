-- Macros the curated models share. Installed on every connection that runs a model.

-- A FHIR date/dateTime/instant (possibly partial: YYYY, YYYY-MM, YYYY-MM-DD) as a UTC instant.
-- Partial dates take the start of the period; a date without a time is midnight UTC.
CREATE OR REPLACE MACRO fhir_instant(s) AS
    try_cast(
        CASE
            WHEN regexp_full_match(s, '\d{4}') THEN s || '-01-01'
            WHEN regexp_full_match(s, '\d{4}-\d{2}') THEN s || '-01'
            ELSE s
        END AS TIMESTAMPTZ);

-- The names among (name, raw) pairs whose raw value was present but did not parse.
CREATE OR REPLACE MACRO unparsed(name, raw, parsed) AS
    CASE WHEN raw IS NOT NULL AND parsed IS NULL THEN [name] ELSE []::VARCHAR[] END;

-- The id a reference points to when it is a relative or absolute `Type/id` reference.
CREATE OR REPLACE MACRO reference_id(ref, type_name) AS
    nullif(regexp_extract(ref, '(?:^|/)' || type_name || '/([^/?#]+)(?:/_history/[^/]+)?$', 1), '');
