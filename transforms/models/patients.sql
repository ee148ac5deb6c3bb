-- patients: one row per Patient (R4 and DSTU2 alike), newest version per id, restricted to what
-- the AI team may see: birth year, sex, a deceased flag (false when the record states neither
-- deceasedBoolean nor deceasedDateTime) and the US state of the home (else the first) address.
-- Names, birth and death dates, addresses, telecom and identifiers never leave this model; the
-- Patient's own id is one of its identifiers (Synthea and Epic list it among them), so
-- `resource_id` is its SHA-256 instead, which the raw object can still be searched by.
WITH latest AS (
    SELECT p.*, r.fetched_at,
        row_number() OVER (
            PARTITION BY p.resource_id
            ORDER BY fhir_instant(p.last_updated) DESC NULLS LAST, r.fetched_at DESC, p.raw_sha256
        ) AS version_rank
    FROM stg_patient AS p
    JOIN raw_objects AS r USING (raw_sha256)
), shaped AS (
    SELECT l.*,
        try_cast(left(l.birth_date, 4) AS BIGINT) AS birth_year,
        CASE WHEN l.has_home_address
            THEN us_state_code(l.home_state, l.home_country)
            ELSE us_state_code(l.first_state, l.first_country)
        END AS us_state
    FROM latest AS l
    WHERE l.version_rank = 1
)
SELECT
    $user_key AS user_key,
    $connector AS connector,
    'Patient' AS resource_type,
    sha256('Patient/' || resource_id) AS resource_id,
    version_id AS resource_version,
    raw_sha256,
    fetched_at,
    $run_id AS run_id,
    fhir_instant(last_updated) AS source_updated_at,
    NULL::VARCHAR AS identifier_key,
    birth_year,
    gender AS sex,
    coalesce(deceased_boolean, deceased_datetime IS NOT NULL) AS deceased,
    us_state,
    false AS _entered_in_error,
    list_concat(_cast_errors, unparsed('birth_year', birth_date, birth_year)) AS _cast_errors
FROM shaped
ORDER BY resource_id
