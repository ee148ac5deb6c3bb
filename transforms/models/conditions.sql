-- conditions: R4 and DSTU2 Condition in the same columns, newest version per id.
-- The code shown is SNOMED CT, else ICD-10-CM, else the first coding. `category` is the R4
-- problem-list-item / encounter-diagnosis / health-concern code; DSTU2's `diagnosis` (and the
-- Argonaut `problem`) are mapped onto it, its complaint/symptom/finding have no R4 equivalent.
-- Conditions have no status: entered-in-error is a verification status.
WITH unioned AS (
    SELECT * FROM stg_condition
    UNION ALL BY NAME
    SELECT * REPLACE (
        list_transform(category_codes, lambda c: CASE c
            WHEN 'diagnosis' THEN 'encounter-diagnosis'
            WHEN 'problem' THEN 'problem-list-item'
            ELSE c END) AS category_codes)
    FROM stg_condition_dstu2
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
            {'code': icd10cm_code, 'system': 'http://hl7.org/fhir/sid/icd-10-cm',
             'display': icd10cm_display},
            {'code': first_code, 'system': first_system, 'display': first_display}
        ]) AS coding,
        coalesce(l.onset_datetime, l.onset_period_start) AS onset,
        coalesce(l.abatement_datetime, l.abatement_period_start) AS abatement,
        fhir_instant(coalesce(l.onset_datetime, l.onset_period_start)) AS onset_at,
        fhir_instant(coalesce(l.abatement_datetime, l.abatement_period_start)) AS abatement_at,
        fhir_instant(l.recorded_date) AS recorded_at,
        coalesce(e.resource_id, reference_id(l.encounter_ref, 'Encounter')) AS encounter_id
    FROM latest AS l
    LEFT JOIN reference_targets AS e
        ON e.full_url = l.encounter_ref AND e.resource_type = 'Encounter'
    WHERE l.version_rank = 1
)
SELECT
    $user_key AS user_key,
    $connector AS connector,
    'Condition' AS resource_type,
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
    clinical_status,
    verification_status,
    CASE
        WHEN list_contains(category_codes, 'problem-list-item') THEN 'problem-list-item'
        WHEN list_contains(category_codes, 'encounter-diagnosis') THEN 'encounter-diagnosis'
        WHEN list_contains(category_codes, 'health-concern') THEN 'health-concern'
    END AS category,
    onset_at,
    abatement_at,
    recorded_at,
    encounter_id,
    coalesce(verification_status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(
        _cast_errors,
        unparsed('onset_at', onset, onset_at),
        unparsed('abatement_at', abatement, abatement_at),
        unparsed('recorded_at', recorded_date, recorded_at)
    ) AS _cast_errors
FROM shaped
ORDER BY resource_id
