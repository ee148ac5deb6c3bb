-- lab_results: one row per laboratory Observation (R4 and DSTU2), newest version per id.
-- A lab is an Observation with a category coding `laboratory`; control columns (_*) are consumed
-- by the runner: _entered_in_error rows are excluded and counted, _cast_errors rows quarantined.
WITH latest AS (
    SELECT o.*, r.fetched_at,
        row_number() OVER (
            PARTITION BY o.resource_id
            ORDER BY fhir_instant(o.last_updated) DESC NULLS LAST, r.fetched_at DESC, o.raw_sha256
        ) AS version_rank
    FROM stg_observation AS o
    JOIN raw_objects AS r USING (raw_sha256)
    WHERE list_contains(o.category_codes, 'laboratory')
), shaped AS (
    SELECT
        l.*,
        fhir_instant(coalesce(l.effective_datetime, l.effective_instant, l.effective_period_start))
            AS effective_at,
        fhir_instant(l.issued) AS issued_at,
        coalesce(e.resource_id, reference_id(l.encounter_ref, 'Encounter')) AS encounter_id
    FROM latest AS l
    LEFT JOIN reference_targets AS e
        ON e.full_url = l.encounter_ref AND e.resource_type = 'Encounter'
    WHERE l.version_rank = 1
)
SELECT
    $user_key AS user_key,
    $connector AS connector,
    'Observation' AS resource_type,
    resource_id,
    version_id AS resource_version,
    raw_sha256,
    fetched_at,
    $run_id AS run_id,
    fhir_instant(last_updated) AS source_updated_at,
    identifier_key(identifier_system, identifier_value) AS identifier_key,
    loinc_code,
    CASE WHEN loinc_code IS NOT NULL THEN 'http://loinc.org' ELSE first_system END AS code_system,
    coalesce(loinc_display, code_text, first_display) AS code_display,
    effective_at,
    issued_at,
    value_quantity_value AS value_num,
    coalesce(value_string, value_cc_text, value_cc_display, value_cc_code) AS value_text,
    coalesce(value_quantity_unit, value_quantity_code) AS unit,
    CASE WHEN value_quantity_system = 'http://unitsofmeasure.org' THEN value_quantity_code END
        AS ucum_code,
    ref_low,
    ref_high,
    ref_text,
    interpretation,
    status,
    encounter_id,
    coalesce(status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(
        _cast_errors,
        unparsed('effective_at',
                 coalesce(effective_datetime, effective_instant, effective_period_start),
                 effective_at),
        unparsed('issued_at', issued, issued_at)
    ) AS _cast_errors
FROM shaped
ORDER BY resource_id
