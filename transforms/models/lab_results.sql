-- lab_results: one row per laboratory Observation result (R4 and DSTU2), newest version per id.
-- A lab is an Observation with a category coding `laboratory`. A panel's component[] entries are
-- one row each (`component_index` 0, 1, …; `panel_*` name the Observation), beside a row for the
-- Observation's own value (`component_index` NULL), which a panel has only when it carries a value
-- of its own; every row keeps the Observation's id, so lineage works per row.
-- Units: the source `unit` stays; `ucum_code`, `normalized_value` and `normalized_unit` come from
-- `unit_conversions` (healthex_pipeline/units.py: UCUM code and factor per distinct unit string,
-- one normalized unit per kind of concentration). The UCUM Quantity.code is preferred, else the
-- unit text; a unit no conversion is known for leaves the three columns NULL.
-- Reference range: `referenceRange.low/high` when either is sent, else parsed from its text
-- (`ref_range_source` says which). `abnormal`: from the interpretation when it is known, else from
-- the value against the range, else NULL.
-- Control columns (_*) are consumed by the runner: _entered_in_error rows are excluded and
-- counted, _cast_errors rows quarantined.
WITH latest AS (
    SELECT o.*, r.fetched_at,
        row_number() OVER (
            PARTITION BY o.resource_id
            ORDER BY fhir_instant(o.last_updated) DESC NULLS LAST, r.fetched_at DESC, o.raw_sha256,
                o.locator
        ) AS version_rank
    FROM stg_observation AS o
    JOIN raw_objects AS r USING (raw_sha256)
    WHERE list_contains(o.category_codes, 'laboratory')
), observations AS (
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
), results AS (
    -- The Observation's own value, then its components: the same columns, by name.
    SELECT raw_sha256, locator, NULL::BIGINT AS component_index, loinc_code, loinc_display,
        first_code, first_system, first_display, code_text, value_quantity_value,
        value_quantity_unit, value_quantity_code, value_quantity_system, value_quantity_comparator,
        value_string, value_cc_text, value_cc_display, value_cc_code, value_boolean, value_integer,
        value_range_low, value_range_high, ref_low, ref_high, ref_text, interpretation,
        interpretation_display, interpretation_text, []::VARCHAR[] AS result_cast_errors
    FROM observations
    UNION ALL BY NAME
    SELECT c.raw_sha256, c.locator, c.component_index, c.loinc_code, c.loinc_display,
        c.first_code, c.first_system, c.first_display, c.code_text, c.value_quantity_value,
        c.value_quantity_unit, c.value_quantity_code, c.value_quantity_system,
        c.value_quantity_comparator, c.value_string, c.value_cc_text, c.value_cc_display,
        c.value_cc_code, c.value_boolean, c.value_integer, c.value_range_low, c.value_range_high,
        c.ref_low, c.ref_high, c.ref_text, c.interpretation, c.interpretation_display,
        c.interpretation_text, c._cast_errors AS result_cast_errors
    FROM stg_observation_component AS c
    SEMI JOIN observations AS o USING (raw_sha256, locator)
), kept AS (
    SELECT *,
        coalesce(value_quantity_value, value_integer) AS value_num,
        coalesce(
            value_string, value_cc_text, value_cc_display, value_cc_code,
            value_boolean::VARCHAR,
            CASE
                WHEN value_range_low IS NOT NULL AND value_range_high IS NOT NULL
                    THEN value_range_low::VARCHAR || '-' || value_range_high::VARCHAR
                WHEN value_range_low IS NOT NULL THEN '>=' || value_range_low::VARCHAR
                WHEN value_range_high IS NOT NULL THEN '<=' || value_range_high::VARCHAR
            END
        ) AS value_text
    FROM results
    -- A panel's own row only when it has a value of its own.
    QUALIFY component_index IS NOT NULL
        OR count(component_index) OVER (PARTITION BY raw_sha256, locator) = 0
        OR value_num IS NOT NULL OR value_text IS NOT NULL
), converted AS (
    SELECT k.*,
        coalesce(by_code.ucum_code, by_text.ucum_code) AS ucum_code,
        CASE WHEN by_code.ucum_code IS NOT NULL THEN by_code.factor ELSE by_text.factor END
            AS factor,
        CASE WHEN by_code.ucum_code IS NOT NULL THEN by_code.normalized_unit
            ELSE by_text.normalized_unit END AS normalized_unit,
        CASE
            WHEN k.ref_low IS NOT NULL OR k.ref_high IS NOT NULL THEN {
                'low': k.ref_low, 'high': k.ref_high,
                'low_inclusive': true, 'high_inclusive': true}
            ELSE lab_text_range(k.ref_text)
        END AS ref_range,
        CASE
            WHEN k.ref_low IS NOT NULL OR k.ref_high IS NOT NULL THEN 'low_high'
            WHEN lab_text_range(k.ref_text) IS NOT NULL THEN 'text'
        END AS ref_range_source
    FROM kept AS k
    -- Quantity.code is a UCUM code only under the UCUM system (or none): other systems' codes
    -- (SNOMED CT ids) would read as UCUM numbers.
    LEFT JOIN unit_conversions AS by_code
        ON by_code.unit = k.value_quantity_code AND by_code.ucum_code IS NOT NULL
            AND coalesce(k.value_quantity_system, 'http://unitsofmeasure.org')
                = 'http://unitsofmeasure.org'
    LEFT JOIN unit_conversions AS by_text
        ON by_text.unit = k.value_quantity_unit AND by_text.ucum_code IS NOT NULL
)
SELECT
    $user_key AS user_key,
    $connector AS connector,
    'Observation' AS resource_type,
    o.resource_id,
    o.version_id AS resource_version,
    o.raw_sha256,
    o.fetched_at,
    $run_id AS run_id,
    fhir_instant(o.last_updated) AS source_updated_at,
    identifier_key(o.identifier_system, o.identifier_value) AS identifier_key,
    r.component_index,
    r.loinc_code,
    CASE WHEN r.loinc_code IS NOT NULL THEN 'http://loinc.org' ELSE r.first_system END
        AS code_system,
    coalesce(r.loinc_display, r.code_text, r.first_display) AS code_display,
    CASE WHEN r.component_index IS NOT NULL THEN o.loinc_code END AS panel_loinc_code,
    CASE WHEN r.component_index IS NOT NULL
        THEN coalesce(o.loinc_display, o.code_text, o.first_display) END AS panel_code_display,
    o.effective_at,
    o.issued_at,
    r.value_num,
    r.value_text,
    r.value_quantity_comparator AS value_comparator,
    coalesce(r.value_quantity_unit, r.value_quantity_code) AS unit,
    r.ucum_code,
    lab_normalized_value(r.value_num, r.factor) AS normalized_value,
    r.normalized_unit,
    r.ref_range.low AS ref_low,
    r.ref_range.high AS ref_high,
    r.ref_text,
    r.ref_range_source,
    r.interpretation,
    coalesce(
        lab_abnormal_interpretation(
            r.interpretation, r.interpretation_display, r.interpretation_text),
        lab_outside_range(
            r.value_num, r.value_quantity_comparator, r.ref_range.low, r.ref_range.high,
            r.ref_range.low_inclusive, r.ref_range.high_inclusive)
    ) AS abnormal,
    o.status,
    o.encounter_id,
    coalesce(o.status = 'entered-in-error', false) AS _entered_in_error,
    list_concat(
        o._cast_errors,
        r.result_cast_errors,
        unparsed('effective_at',
                 coalesce(o.effective_datetime, o.effective_instant, o.effective_period_start),
                 o.effective_at),
        unparsed('issued_at', o.issued, o.issued_at)
    ) AS _cast_errors
FROM converted AS r
JOIN observations AS o USING (raw_sha256, locator)
ORDER BY o.resource_id, r.component_index NULLS FIRST
