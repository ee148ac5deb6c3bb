-- immunizations: R4 Immunization and DSTU2 Immunization in the same columns, newest version per id.
-- DSTU2 has `date` for the occurrence and `reported` (the inverse of R4's primarySource).
WITH unioned AS (
    SELECT raw_sha256, resource_id, version_id, last_updated, identifier_system, identifier_value,
           status, cvx_code, vaccine_text, vaccine_coding_display, occurrence, lot_number,
           primary_source, encounter_ref, _cast_errors
    FROM stg_immunization
    UNION ALL BY NAME
    SELECT raw_sha256, resource_id, version_id, last_updated, identifier_system, identifier_value,
           CASE WHEN was_not_given THEN 'not-done' ELSE status END AS status,
           cvx_code, vaccine_text, vaccine_coding_display, occurrence, lot_number,
           NOT reported AS primary_source, encounter_ref, _cast_errors
    FROM stg_immunization_dstu2
), latest AS (
    SELECT u.*, r.fetched_at,
        row_number() OVER (
            PARTITION BY u.resource_id
            ORDER BY fhir_instant(u.last_updated) DESC NULLS LAST, r.fetched_at DESC, u.raw_sha256
        ) AS version_rank
    FROM unioned AS u
    JOIN raw_objects AS r USING (raw_sha256)
), shaped AS (
    SELECT l.*, fhir_instant(l.occurrence) AS occurrence_at,
        coalesce(e.resource_id, reference_id(l.encounter_ref, 'Encounter')) AS encounter_id
    FROM latest AS l
    LEFT JOIN reference_targets AS e
        ON e.full_url = l.encounter_ref AND e.resource_type = 'Encounter'
    WHERE l.version_rank = 1
)
SELECT
    $user_key AS user_key,
    $connector AS connector,
    'Immunization' AS resource_type,
    resource_id,
    version_id AS resource_version,
    raw_sha256,
    fetched_at,
    $run_id AS run_id,
    fhir_instant(last_updated) AS source_updated_at,
    identifier_key(identifier_system, identifier_value) AS identifier_key,
    cvx_code,
    coalesce(vaccine_text, vaccine_coding_display) AS vaccine_display,
    occurrence_at,
    status,
    lot_number,
    primary_source,
    encounter_id,
    coalesce(status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(_cast_errors, unparsed('occurrence_at', occurrence, occurrence_at)) AS _cast_errors
FROM shaped
ORDER BY resource_id
