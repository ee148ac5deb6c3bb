-- medications: R4 MedicationRequest, MedicationStatement and MedicationAdministration, DSTU2
-- MedicationOrder and MedicationStatement; one row each, newest version per id.
-- `medication_resolution` says where the drug came from: 'code' (medicationCodeableConcept), or
-- what medicationReference resolves to, in order: 'contained' (`#id`), 'bundled' (the reference is
-- an entry's fullUrl, e.g. `urn:uuid`), 'landed' (a Medication/id landed for the same user); a
-- reference that resolves to nothing is 'unresolved' and its row is kept, named by the
-- reference's display when it has one. Among several candidates the referencing object's own
-- copy wins, then the newest. The RxNorm code is the first RxNorm coding wherever it sits among
-- the codings; the display is the drug's text, else that coding's display, else the first
-- coding's. Dosage columns describe the first dosage instruction.
WITH unioned AS (
    SELECT 'MedicationRequest' AS resource_type, * FROM stg_medication_request
    UNION ALL BY NAME
    SELECT 'MedicationStatement' AS resource_type, * FROM stg_medication_statement
    UNION ALL BY NAME
    SELECT 'MedicationStatement' AS resource_type, * FROM stg_medication_statement_dstu2
    UNION ALL BY NAME
    SELECT 'MedicationOrder' AS resource_type, * FROM stg_medication_order
    UNION ALL BY NAME
    SELECT 'MedicationAdministration' AS resource_type, * FROM stg_medication_administration
), contained_match AS (
    -- One row per resource: the contained Medication the reference names, if any.
    SELECT resource_type, resource_id, raw_sha256,
        any_value({
            'resource_id': contained_id,
            'rxnorm': contained_rxnorm,
            'rxnorm_display': contained_rxnorm_display,
            'display': coalesce(contained_text, contained_rxnorm_display, contained_display)
        }) FILTER (WHERE '#' || contained_id = med_ref) AS contained
    FROM unioned
    GROUP BY ALL
), one_per_resource AS (
    SELECT DISTINCT ON (u.resource_type, u.resource_id, u.raw_sha256)
        u.* EXCLUDE (
            contained_id, contained_rxnorm, contained_rxnorm_display, contained_text,
            contained_display),
        c.contained
    FROM unioned AS u
    JOIN contained_match AS c USING (resource_type, resource_id, raw_sha256)
), latest AS (
    SELECT m.*, r.fetched_at,
        row_number() OVER (
            PARTITION BY m.resource_type, m.resource_id
            ORDER BY fhir_instant(m.last_updated) DESC NULLS LAST, r.fetched_at DESC, m.raw_sha256
        ) AS version_rank
    FROM one_per_resource AS m
    JOIN raw_objects AS r USING (raw_sha256)
), current_rows AS (
    SELECT * EXCLUDE (version_rank) FROM latest WHERE version_rank = 1
), landed_medications AS (
    SELECT m.resource_id, m.full_url, m.raw_sha256, r.fetched_at,
        fhir_instant(m.last_updated) AS updated_at,
        {
            'resource_id': m.resource_id,
            'rxnorm': m.rxnorm,
            'rxnorm_display': m.rxnorm_display,
            'display': coalesce(m.code_text, m.rxnorm_display, m.code_display)
        } AS medication
    FROM stg_medication AS m
    JOIN raw_objects AS r USING (raw_sha256)
), reference_candidates AS (
    SELECT c.resource_type, c.resource_id, 1 AS kind_rank, 'bundled' AS kind,
        m.raw_sha256 = c.raw_sha256 AS same_object, m.updated_at, m.fetched_at,
        m.raw_sha256 AS target_sha256, m.medication
    FROM current_rows AS c
    JOIN landed_medications AS m ON m.full_url = c.med_ref
    UNION ALL
    SELECT c.resource_type, c.resource_id, 2, 'landed',
        m.raw_sha256 = c.raw_sha256, m.updated_at, m.fetched_at, m.raw_sha256, m.medication
    FROM current_rows AS c
    JOIN landed_medications AS m ON m.resource_id = reference_id(c.med_ref, 'Medication')
), referenced AS (
    SELECT DISTINCT ON (resource_type, resource_id) resource_type, resource_id, kind, medication
    FROM reference_candidates
    ORDER BY resource_type, resource_id, kind_rank, same_object DESC,
        updated_at DESC NULLS LAST, fetched_at DESC, target_sha256
), resolved AS (
    SELECT c.*,
        CASE
            WHEN c.med_is_code THEN 'code'
            WHEN c.contained IS NOT NULL THEN 'contained'
            WHEN ref.kind IS NOT NULL THEN ref.kind
            ELSE 'unresolved'
        END AS medication_resolution,
        CASE
            WHEN c.med_is_code THEN {
                'resource_id': NULL::VARCHAR,
                'rxnorm': c.med_rxnorm,
                'rxnorm_display': c.med_rxnorm_display,
                'display': coalesce(c.med_text, c.med_rxnorm_display, c.med_coding_display)
            }
            ELSE coalesce(c.contained, ref.medication)
        END AS drug,
        coalesce(c.effective_datetime, c.effective_period_start, c.authored_on) AS authored_on_raw,
        coalesce(e.resource_id, reference_id(c.encounter_ref, 'Encounter')) AS encounter_id
    FROM current_rows AS c
    LEFT JOIN referenced AS ref USING (resource_type, resource_id)
    LEFT JOIN reference_targets AS e
        ON e.full_url = c.encounter_ref AND e.resource_type = 'Encounter'
), shaped AS (
    SELECT *, fhir_instant(authored_on_raw) AS authored_at FROM resolved
)
SELECT
    $user_key AS user_key,
    $connector AS connector,
    resource_type,
    resource_id,
    version_id AS resource_version,
    raw_sha256,
    fetched_at,
    $run_id AS run_id,
    fhir_instant(last_updated) AS source_updated_at,
    identifier_key(identifier_system, identifier_value) AS identifier_key,
    drug.rxnorm AS rxnorm_code,
    drug.rxnorm_display AS rxnorm_display,
    coalesce(drug.display, med_ref_display) AS medication_display,
    medication_resolution,
    drug.resource_id AS medication_resource_id,
    -- DSTU2 statements say "not taken" with wasNotTaken; R4 with this status.
    CASE WHEN was_not_taken AND status IS DISTINCT FROM 'entered-in-error' THEN 'not-taken'
        ELSE status END AS status,
    intent,
    authored_at,
    dosage_text,
    timing_frequency,
    timing_period,
    timing_period_unit,
    timing_code,
    coalesce(timing_text, timing_code_display) AS timing_text,
    CASE WHEN as_needed_for THEN true ELSE as_needed_boolean END AS as_needed,
    route_code,
    route_system,
    coalesce(route_display, route_text) AS route_display,
    dose_value,
    coalesce(dose_unit, dose_code) AS dose_unit,
    encounter_id,
    coalesce(status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(_cast_errors, unparsed('authored_at', authored_on_raw, authored_at)) AS _cast_errors
FROM shaped
ORDER BY resource_type, resource_id
