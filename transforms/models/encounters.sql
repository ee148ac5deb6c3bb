-- encounters: R4 and DSTU2 Encounter in the same columns, newest version per id.
-- DSTU2's `class` is a plain code and its reasons are `reason`; the views map both.
WITH unioned AS (
    SELECT * FROM stg_encounter
    UNION ALL BY NAME
    SELECT * FROM stg_encounter_dstu2
), latest AS (
    SELECT u.*, r.fetched_at,
        row_number() OVER (
            PARTITION BY u.resource_id
            ORDER BY fhir_instant(u.last_updated) DESC NULLS LAST, r.fetched_at DESC, u.raw_sha256
        ) AS version_rank
    FROM unioned AS u
    JOIN raw_objects AS r USING (raw_sha256)
), organizations AS (
    SELECT DISTINCT ON (resource_id) resource_id, resource->>'name' AS name FROM raw_resources
    WHERE resource_type = 'Organization'
    ORDER BY resource_id, raw_sha256
), shaped AS (
    SELECT l.*,
        fhir_instant(l.period_start) AS period_start_at,
        fhir_instant(l.period_end) AS period_end_at,
        coalesce(l.service_provider_display, org.name) AS service_provider
    FROM latest AS l
    LEFT JOIN reference_targets AS by_url
        ON by_url.full_url = l.service_provider_ref AND by_url.resource_type = 'Organization'
    LEFT JOIN organizations AS org
        ON org.resource_id = coalesce(
            by_url.resource_id, reference_id(l.service_provider_ref, 'Organization'))
    WHERE l.version_rank = 1
)
SELECT
    $user_key AS user_key,
    $connector AS connector,
    'Encounter' AS resource_type,
    resource_id,
    version_id AS resource_version,
    raw_sha256,
    fetched_at,
    $run_id AS run_id,
    fhir_instant(last_updated) AS source_updated_at,
    identifier_key(identifier_system, identifier_value) AS identifier_key,
    class_code AS encounter_class,
    type_code,
    coalesce(type_display, type_text) AS type_display,
    period_start_at AS period_start,
    period_end_at AS period_end,
    status,
    reason_code,
    coalesce(reason_display, reason_text) AS reason_display,
    service_provider,
    coalesce(status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(
        _cast_errors,
        unparsed('period_start', period_start, period_start_at),
        unparsed('period_end', period_end, period_end_at)
    ) AS _cast_errors
FROM shaped
ORDER BY resource_id
