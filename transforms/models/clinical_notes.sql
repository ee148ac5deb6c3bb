-- clinical_notes: DocumentReference (R4, DSTU2) and DiagnosticReport with a presentedForm, one row
-- per resource, newest version per id. Of its attachments one is shown (inline text/plain, else
-- other inline text/*, else any inline data, else the first); `attachment_count` says how many
-- there were. Inline data is decoded: its size and SHA-256 are kept, and for text/* its UTF-8
-- text up to clinical_note_text_limit() bytes (`text_truncated` when cut, `text_limit_bytes`
-- records the limit). The base64 itself never reaches the table. An attachment with only a `url`
-- keeps its content type and declared size; nothing is fetched and the url is not kept.
WITH attachments AS (
    SELECT 'DocumentReference' AS resource_type, * RENAME (date AS note_date_raw)
    FROM stg_document_reference
    UNION ALL BY NAME
    SELECT 'DocumentReference' AS resource_type,
        * EXCLUDE (created, indexed), coalesce(created, indexed) AS note_date_raw
    FROM stg_document_reference_dstu2
    UNION ALL BY NAME
    SELECT 'DiagnosticReport' AS resource_type,
        * EXCLUDE (effective_datetime, effective_period_start, issued),
        coalesce(effective_datetime, effective_period_start, issued) AS note_date_raw
    FROM stg_diagnostic_report
), decoded AS (
    SELECT *,
        base64_bytes(data) AS bytes,
        coalesce(lower(content_type) LIKE 'text/%', false) AS is_text,
        coalesce(lower(content_type) LIKE 'text/plain%', false) AS is_plain
    FROM attachments
), primary_attachment AS (
    SELECT *,
        row_number() OVER (
            PARTITION BY resource_type, raw_sha256, locator, resource_id
            ORDER BY data IS NULL, NOT is_text, NOT is_plain, attachment_index
        ) AS attachment_rank
    FROM decoded
), latest AS (
    SELECT a.*, r.fetched_at,
        row_number() OVER (
            PARTITION BY a.resource_type, a.resource_id
            ORDER BY fhir_instant(a.last_updated) DESC NULLS LAST, r.fetched_at DESC, a.raw_sha256,
                a.locator
        ) AS version_rank
    FROM primary_attachment AS a
    JOIN raw_objects AS r USING (raw_sha256)
    WHERE a.attachment_rank = 1
), shaped AS (
    SELECT l.*,
        preferred_coding([
            {'code': type_loinc_code, 'system': 'http://loinc.org', 'display': type_loinc_display},
            {'code': type_first_code, 'system': type_first_system, 'display': type_first_display}
        ]) AS note_type,
        fhir_instant(l.note_date_raw) AS note_date,
        CASE WHEN l.is_text THEN utf8_prefix(l.bytes, clinical_note_text_limit()) END AS note_text,
        coalesce(e.resource_id, reference_id(l.encounter_ref, 'Encounter')) AS encounter_id
    FROM latest AS l
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
    status,
    note_type.code AS note_type_code,
    note_type.system AS note_type_system,
    coalesce(note_type.display, type_text) AS note_type_display,
    note_date,
    author_display,
    content_type,
    CASE WHEN data IS NOT NULL THEN 'inline' WHEN has_url THEN 'url' END AS content_source,
    CASE WHEN bytes IS NOT NULL THEN octet_length(bytes) ELSE declared_size END
        AS content_size_bytes,
    CASE WHEN bytes IS NOT NULL THEN sha256(bytes) END AS content_sha256,
    note_text AS text,
    CASE WHEN note_text IS NOT NULL THEN octet_length(bytes) > clinical_note_text_limit() END
        AS text_truncated,
    clinical_note_text_limit()::BIGINT AS text_limit_bytes,
    attachment_count,
    encounter_id,
    coalesce(status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(
        _cast_errors,
        unparsed('note_date', note_date_raw, note_date),
        unparsed('attachment_data', data, bytes)
    ) AS _cast_errors
FROM shaped
ORDER BY resource_type, resource_id
