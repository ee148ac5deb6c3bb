-- allergies: R4 and DSTU2 AllergyIntolerance in the same columns, newest version per id.
-- The substance is `code` (DSTU2: `substance`), else the first reaction's substance; its code is
-- RxNorm, else SNOMED CT, else the first coding. `reactions` is a list with one struct per
-- manifestation of each reaction (manifestation, its code and system, the reaction's severity),
-- in source order; empty when nothing was recorded. DSTU2's single `status` is split into
-- clinical and verification status, and its CRITL/CRITH/CRITU criticality mapped to R4 codes.
WITH unioned AS (
    SELECT * FROM stg_allergy_intolerance
    UNION ALL BY NAME
    SELECT * EXCLUDE (status) REPLACE (
        CASE criticality
            WHEN 'CRITL' THEN 'low'
            WHEN 'CRITH' THEN 'high'
            WHEN 'CRITU' THEN 'unable-to-assess'
            ELSE criticality
        END AS criticality),
        CASE WHEN status IN ('active', 'inactive', 'resolved') THEN status END AS clinical_status,
        CASE WHEN status IN ('unconfirmed', 'confirmed', 'refuted', 'entered-in-error')
            THEN status END AS verification_status
    FROM stg_allergy_intolerance_dstu2
), with_reaction AS (
    SELECT *,
        preferred_coding([
            {'code': manifestation_snomed_code, 'system': 'http://snomed.info/sct',
             'display': manifestation_snomed_display},
            {'code': manifestation_first_code, 'system': manifestation_first_system,
             'display': manifestation_first_display}
        ]) AS manifestation_coding
    FROM unioned
), per_resource AS (
    -- One row per resource occurrence (object and position in it): its reactions collected.
    SELECT raw_sha256, locator, resource_id,
        coalesce(
            list({
                'manifestation': coalesce(manifestation_coding.display, manifestation_text),
                'manifestation_code': manifestation_coding.code,
                'manifestation_system': manifestation_coding.system,
                'severity': reaction_severity
            } ORDER BY reaction_index, manifestation_index) FILTER (
                WHERE reaction_severity IS NOT NULL OR manifestation_coding.code IS NOT NULL
                    OR manifestation_text IS NOT NULL),
            []
        ) AS reactions,
        list_sort(list_distinct(flatten(list(_cast_errors)))) AS row_cast_errors
    FROM with_reaction
    GROUP BY raw_sha256, locator, resource_id
), one_per_resource AS (
    SELECT DISTINCT ON (u.raw_sha256, u.locator, u.resource_id)
        u.* EXCLUDE (
            reaction_index, reaction_severity, manifestation_index, manifestation_snomed_code,
            manifestation_snomed_display, manifestation_first_code, manifestation_first_system,
            manifestation_first_display, manifestation_text, _cast_errors),
        p.reactions,
        p.row_cast_errors AS _cast_errors
    FROM unioned AS u
    JOIN per_resource AS p USING (raw_sha256, locator, resource_id)
), latest AS (
    SELECT a.*, r.fetched_at,
        row_number() OVER (
            PARTITION BY a.resource_id
            ORDER BY fhir_instant(a.last_updated) DESC NULLS LAST, r.fetched_at DESC, a.raw_sha256,
                a.locator
        ) AS version_rank
    FROM one_per_resource AS a
    JOIN raw_objects AS r USING (raw_sha256)
), shaped AS (
    SELECT l.*,
        preferred_coding([
            {'code': substance_rxnorm_code, 'system': 'http://www.nlm.nih.gov/research/umls/rxnorm',
             'display': substance_rxnorm_display},
            {'code': substance_snomed_code, 'system': 'http://snomed.info/sct',
             'display': substance_snomed_display},
            {'code': substance_first_code, 'system': substance_first_system,
             'display': substance_first_display}
        ]) AS substance,
        coalesce(l.onset_datetime, l.onset_period_start) AS onset,
        fhir_instant(coalesce(l.onset_datetime, l.onset_period_start)) AS onset_at,
        fhir_instant(l.recorded_date) AS recorded_at
    FROM latest AS l
    WHERE l.version_rank = 1
)
SELECT
    $user_key AS user_key,
    $connector AS connector,
    'AllergyIntolerance' AS resource_type,
    resource_id,
    version_id AS resource_version,
    raw_sha256,
    fetched_at,
    $run_id AS run_id,
    fhir_instant(last_updated) AS source_updated_at,
    identifier_key(identifier_system, identifier_value) AS identifier_key,
    substance.code AS substance_code,
    substance.system AS substance_system,
    coalesce(substance.display, substance_text) AS substance_display,
    clinical_status,
    verification_status,
    allergy_type,
    categories,
    criticality,
    onset_at,
    recorded_at,
    reactions,
    coalesce(verification_status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(
        _cast_errors,
        unparsed('onset_at', onset, onset_at),
        unparsed('recorded_at', recorded_date, recorded_at)
    ) AS _cast_errors
FROM shaped
ORDER BY resource_id
