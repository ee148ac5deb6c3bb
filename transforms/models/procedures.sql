-- procedures: R4 and DSTU2 Procedure in the same columns, newest version per id.
-- The code shown is SNOMED CT, else CPT, else the first coding. A procedure performed at an
-- instant (performedDateTime) starts and ends then; a performedPeriod gives both ends.
-- DSTU2's notPerformed becomes R4's status not-done, and its status aborted R4's stopped.
WITH unioned AS (
    SELECT * FROM stg_procedure
    UNION ALL BY NAME
    SELECT * EXCLUDE (not_performed) REPLACE (
        CASE
            WHEN not_performed THEN 'not-done'
            WHEN status = 'aborted' THEN 'stopped'
            ELSE status
        END AS status)
    FROM stg_procedure_dstu2
), latest AS (
    SELECT u.*, r.fetched_at,
        row_number() OVER (
            PARTITION BY u.resource_id
            ORDER BY fhir_instant(u.last_updated) DESC NULLS LAST, r.fetched_at DESC, u.raw_sha256
        ) AS version_rank
    FROM unioned AS u
    JOIN raw_objects AS r USING (raw_sha256)
), shaped AS (
    SELECT l.*,
        preferred_coding([
            {'code': snomed_code, 'system': 'http://snomed.info/sct', 'display': snomed_display},
            {'code': cpt_code, 'system': 'http://www.ama-assn.org/go/cpt', 'display': cpt_display},
            {'code': first_code, 'system': first_system, 'display': first_display}
        ]) AS coding,
        coalesce(l.performed_datetime, l.performed_period_start) AS performed_start_raw,
        coalesce(l.performed_datetime, l.performed_period_end) AS performed_end_raw,
        fhir_instant(coalesce(l.performed_datetime, l.performed_period_start))
            AS performed_start_at,
        fhir_instant(coalesce(l.performed_datetime, l.performed_period_end)) AS performed_end_at,
        coalesce(e.resource_id, reference_id(l.encounter_ref, 'Encounter')) AS encounter_id
    FROM latest AS l
    LEFT JOIN reference_targets AS e
        ON e.full_url = l.encounter_ref AND e.resource_type = 'Encounter'
    WHERE l.version_rank = 1
)
SELECT
    $user_key AS user_key,
    $connector AS connector,
    'Procedure' AS resource_type,
    resource_id,
    version_id AS resource_version,
    raw_sha256,
    fetched_at,
    $run_id AS run_id,
    fhir_instant(last_updated) AS source_updated_at,
    identifier_key(identifier_system, identifier_value) AS identifier_key,
    coding.code AS code,
    coding.system AS code_system,
    coalesce(coding.display, text) AS code_display,
    status,
    performed_start_at AS performed_start,
    performed_end_at AS performed_end,
    encounter_id,
    coalesce(status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(
        _cast_errors,
        unparsed('performed_start', performed_start_raw, performed_start_at),
        unparsed('performed_end', performed_end_raw, performed_end_at)
    ) AS _cast_errors
FROM shaped
ORDER BY resource_id
