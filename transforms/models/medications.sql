-- medications: R4 MedicationRequest/MedicationStatement and DSTU2 MedicationOrder, one row each,
-- newest version per id. medicationReference resolves, in order, to a contained Medication
-- (`#id`), a bundled one (`urn:uuid` fullUrl), or a Medication/id landed for the same user.
WITH unioned AS (
    SELECT 'MedicationRequest' AS resource_type, * FROM stg_medication_request
    UNION ALL BY NAME
    SELECT 'MedicationStatement' AS resource_type,
        * REPLACE (coalesce(effective_datetime, effective_period_start, authored_on) AS authored_on)
    FROM stg_medication_statement
    UNION ALL BY NAME
    SELECT 'MedicationOrder' AS resource_type, * FROM stg_medication_order
), contained_match AS (
    -- One row per resource: the contained Medication the reference names, if any.
    SELECT resource_type, resource_id, raw_sha256,
        any_value(contained_rxnorm) FILTER (WHERE '#' || contained_id = med_ref) AS c_rxnorm,
        any_value(coalesce(contained_text, contained_display))
            FILTER (WHERE '#' || contained_id = med_ref) AS c_display
    FROM unioned
    GROUP BY ALL
), one_per_resource AS (
    SELECT DISTINCT ON (u.resource_type, u.resource_id, u.raw_sha256)
        u.* EXCLUDE (contained_id, contained_rxnorm, contained_text, contained_display),
        c.c_rxnorm, c.c_display
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
), bundled_medications AS (
    SELECT DISTINCT ON (full_url) full_url, rxnorm, coalesce(code_text, code_display) AS display
    FROM stg_medication
    WHERE full_url IS NOT NULL AND raw_sha256 IN (SELECT raw_sha256 FROM raw_objects)
    ORDER BY full_url, raw_sha256
), medications_by_id AS (
    SELECT DISTINCT ON (resource_id) resource_id, rxnorm,
        coalesce(code_text, code_display) AS display
    FROM stg_medication
    WHERE raw_sha256 IN (SELECT raw_sha256 FROM raw_objects)
    ORDER BY resource_id, raw_sha256
), shaped AS (
    SELECT l.*,
        coalesce(bundled.rxnorm, by_id.rxnorm) AS ref_rxnorm,
        coalesce(bundled.display, by_id.display) AS ref_display,
        fhir_instant(l.authored_on) AS authored_at,
        coalesce(e.resource_id, reference_id(l.encounter_ref, 'Encounter')) AS encounter_id
    FROM latest AS l
    LEFT JOIN bundled_medications AS bundled ON bundled.full_url = l.med_ref
    LEFT JOIN medications_by_id AS by_id
        ON by_id.resource_id = reference_id(l.med_ref, 'Medication')
    LEFT JOIN reference_targets AS e
        ON e.full_url = l.encounter_ref AND e.resource_type = 'Encounter'
    WHERE l.version_rank = 1
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
    coalesce(med_rxnorm, c_rxnorm, ref_rxnorm) AS rxnorm_code,
    coalesce(med_text, med_coding_display, c_display, ref_display, med_ref_display)
        AS medication_display,
    status,
    intent,
    authored_at,
    dosage_text,
    encounter_id,
    coalesce(status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(_cast_errors, unparsed('authored_at', authored_on, authored_at)) AS _cast_errors
FROM shaped
ORDER BY resource_type, resource_id
