-- Macros the curated models share. Installed on every connection that runs a model.

-- A FHIR date/dateTime/instant (possibly partial: YYYY, YYYY-MM, YYYY-MM-DD) as a UTC instant.
-- Partial dates take the start of the period; a date without a time is midnight UTC.
CREATE OR REPLACE MACRO fhir_instant(s) AS
    try_cast(
        CASE
            WHEN regexp_full_match(s, '\d{4}') THEN s || '-01-01'
            WHEN regexp_full_match(s, '\d{4}-\d{2}') THEN s || '-01'
            ELSE s
        END AS TIMESTAMPTZ);

-- The names among (name, raw) pairs whose raw value was present but did not parse.
CREATE OR REPLACE MACRO unparsed(name, raw, parsed) AS
    CASE WHEN raw IS NOT NULL AND parsed IS NULL THEN [name] ELSE []::VARCHAR[] END;

-- The id a reference points to when it is a relative or absolute `Type/id` reference.
CREATE OR REPLACE MACRO reference_id(ref, type_name) AS
    nullif(regexp_extract(ref, '(?:^|/)' || type_name || '/([^/?#]+)(?:/_history/[^/]+)?$', 1), '');

-- The cross-connector dedup key of a business identifier (`Resource.identifier`): its SHA-256, so
-- accession and order numbers never reach a curated table themselves; NULL without a value.
CREATE OR REPLACE MACRO identifier_key(system, value) AS
    CASE WHEN value IS NOT NULL THEN sha256(coalesce(system, '') || '|' || value) END;

-- The coding a table shows: the first of `codings` (structs of code, system, display, listed in
-- order of system preference, the resource's first coding last) that has a code.
CREATE OR REPLACE MACRO preferred_coding(codings) AS
    list_filter(codings, lambda c: c.code IS NOT NULL)[1];

-- Decoded note text is kept up to this many bytes of UTF-8 (64 KiB); longer text is cut at a
-- character boundary and flagged, so one huge attachment cannot bloat a table the AI team reads.
CREATE OR REPLACE MACRO clinical_note_text_limit() AS 65536;

-- The longest prefix of at most `n` bytes of BLOB `b` that is whole UTF-8 characters; NULL when
-- `b` is not UTF-8 text. A cut inside a character is moved back by up to three bytes.
CREATE OR REPLACE MACRO utf8_prefix(b, n) AS
    coalesce(
        try(decode(b[1:n])), try(decode(b[1:n - 1])), try(decode(b[1:n - 2])),
        try(decode(b[1:n - 3])));

-- A FHIR base64Binary as bytes (line breaks and spaces allowed in the text); NULL when invalid.
CREATE OR REPLACE MACRO base64_bytes(s) AS
    try(from_base64(regexp_replace(s, '\s+', '', 'g')));

-- The two-letter USPS code of a US state, DC or territory, from its code or name in any case;
-- NULL for anything else (including addresses whose country is not the US), so free text
-- typed into `state` never reaches a table.
CREATE OR REPLACE MACRO us_state_code(state, country) AS
    CASE
        WHEN country IS NOT NULL AND upper(trim(country)) NOT IN (
            'US', 'USA', 'U.S.', 'U.S.A.', 'UNITED STATES', 'UNITED STATES OF AMERICA')
            THEN NULL
        ELSE MAP {
            'AL': 'AL', 'ALABAMA': 'AL', 'AK': 'AK', 'ALASKA': 'AK', 'AZ': 'AZ', 'ARIZONA': 'AZ',
            'AR': 'AR', 'ARKANSAS': 'AR', 'CA': 'CA', 'CALIFORNIA': 'CA', 'CO': 'CO',
            'COLORADO': 'CO', 'CT': 'CT', 'CONNECTICUT': 'CT', 'DE': 'DE', 'DELAWARE': 'DE',
            'DC': 'DC', 'DISTRICT OF COLUMBIA': 'DC', 'FL': 'FL', 'FLORIDA': 'FL', 'GA': 'GA',
            'GEORGIA': 'GA', 'HI': 'HI', 'HAWAII': 'HI', 'ID': 'ID', 'IDAHO': 'ID', 'IL': 'IL',
            'ILLINOIS': 'IL', 'IN': 'IN', 'INDIANA': 'IN', 'IA': 'IA', 'IOWA': 'IA', 'KS': 'KS',
            'KANSAS': 'KS', 'KY': 'KY', 'KENTUCKY': 'KY', 'LA': 'LA', 'LOUISIANA': 'LA',
            'ME': 'ME', 'MAINE': 'ME', 'MD': 'MD', 'MARYLAND': 'MD', 'MA': 'MA',
            'MASSACHUSETTS': 'MA', 'MI': 'MI', 'MICHIGAN': 'MI', 'MN': 'MN', 'MINNESOTA': 'MN',
            'MS': 'MS', 'MISSISSIPPI': 'MS', 'MO': 'MO', 'MISSOURI': 'MO', 'MT': 'MT',
            'MONTANA': 'MT', 'NE': 'NE', 'NEBRASKA': 'NE', 'NV': 'NV', 'NEVADA': 'NV',
            'NH': 'NH', 'NEW HAMPSHIRE': 'NH', 'NJ': 'NJ', 'NEW JERSEY': 'NJ', 'NM': 'NM',
            'NEW MEXICO': 'NM', 'NY': 'NY', 'NEW YORK': 'NY', 'NC': 'NC',
            'NORTH CAROLINA': 'NC', 'ND': 'ND', 'NORTH DAKOTA': 'ND', 'OH': 'OH', 'OHIO': 'OH',
            'OK': 'OK', 'OKLAHOMA': 'OK', 'OR': 'OR', 'OREGON': 'OR', 'PA': 'PA',
            'PENNSYLVANIA': 'PA', 'RI': 'RI', 'RHODE ISLAND': 'RI', 'SC': 'SC',
            'SOUTH CAROLINA': 'SC', 'SD': 'SD', 'SOUTH DAKOTA': 'SD', 'TN': 'TN',
            'TENNESSEE': 'TN', 'TX': 'TX', 'TEXAS': 'TX', 'UT': 'UT', 'UTAH': 'UT', 'VT': 'VT',
            'VERMONT': 'VT', 'VA': 'VA', 'VIRGINIA': 'VA', 'WA': 'WA', 'WASHINGTON': 'WA',
            'WV': 'WV', 'WEST VIRGINIA': 'WV', 'WI': 'WI', 'WISCONSIN': 'WI', 'WY': 'WY',
            'WYOMING': 'WY', 'AS': 'AS', 'AMERICAN SAMOA': 'AS', 'GU': 'GU', 'GUAM': 'GU',
            'MP': 'MP', 'NORTHERN MARIANA ISLANDS': 'MP', 'PR': 'PR', 'PUERTO RICO': 'PR',
            'VI': 'VI', 'U.S. VIRGIN ISLANDS': 'VI', 'VIRGIN ISLANDS': 'VI'
        }[upper(trim(state))]
    END;

-- Labs: a reference range stated only as text ("3.5-5.0", "3.5 - 5.0 mmol/L", "<5.0", ">=10"), as
-- STRUCT(low, high, low_inclusive, high_inclusive); NULL for any other text ("Negative", one
-- number, two ranges, an inverted range). Trailing text that cannot be read as a number (a unit)
-- is allowed. The pattern's groups: comparator, first number, second number.
CREATE OR REPLACE MACRO lab_text_range_parts(t) AS
    regexp_extract(
        t,
        '^\s*(<=|>=|<|>|≤|≥)?\s*([+-]?(?:\d+\.?\d*|\.\d+))'
            || '(?:\s*(?:-|–|—|to)\s*([+-]?(?:\d+\.?\d*|\.\d+)))?'
            || '(?:\s*[^\d\s.,+\-–—].*|\s+\d+[*^]\S*)?\s*$',
        ['op', 'first', 'second']);

CREATE OR REPLACE MACRO lab_range_of_parts(p) AS
    CASE
        WHEN p.op = '' AND p.second <> '' AND p.first::DOUBLE <= p.second::DOUBLE THEN {
            'low': p.first::DOUBLE, 'high': p.second::DOUBLE,
            'low_inclusive': true, 'high_inclusive': true}
        WHEN p.op <> '' AND p.second = '' THEN {
            'low': CASE WHEN p.op IN ('>', '>=', '≥') THEN p.first::DOUBLE END,
            'high': CASE WHEN p.op IN ('<', '<=', '≤') THEN p.first::DOUBLE END,
            'low_inclusive': p.op <> '>', 'high_inclusive': p.op <> '<'}
    END;

CREATE OR REPLACE MACRO lab_text_range(t) AS lab_range_of_parts(lab_text_range_parts(t));

-- Labs: whether an interpretation says the result is abnormal. Codes of HL7 v2 table 0078 / v3
-- ObservationInterpretation: H, HH, L, LL, A, AA, HU, LU, >, < are abnormal and N is normal;
-- without a known code, the text or display is read ("High", "Critical low", "Abnormal" vs
-- "Normal"). NULL when neither tells (no interpretation, or codes such as IND, POS, LX).
CREATE OR REPLACE MACRO lab_abnormal_interpretation(code, display, text) AS
    CASE
        WHEN upper(trim(code)) IN ('H', 'HH', 'L', 'LL', 'A', 'AA', 'HU', 'LU', '>', '<') THEN true
        WHEN upper(trim(code)) = 'N' THEN false
        WHEN regexp_full_match(
            lower(trim(coalesce(text, display))), 'normal|within normal limits|wnl') THEN false
        WHEN regexp_matches(
            lower(coalesce(text, display)), '\b(abnormal|high|low|critical|panic|above|below)\b')
            THEN true
    END;

-- Labs: whether a numeric value lies outside its reference range (bounds inclusive unless the
-- range said otherwise); NULL without a value or any bound, or when the value itself is only a
-- bound ("<5", a Quantity comparator), which a range cannot place.
CREATE OR REPLACE MACRO lab_outside_range(
        value, comparator, low, high, low_inclusive, high_inclusive) AS
    CASE
        WHEN value IS NULL OR comparator IS NOT NULL OR (low IS NULL AND high IS NULL) THEN NULL
        ELSE coalesce(value < low OR (value = low AND NOT coalesce(low_inclusive, true)), false)
            OR coalesce(
                value > high OR (value = high AND NOT coalesce(high_inclusive, true)), false)
    END;

-- Labs: a value in its unit's normalized unit, correctly rounded: a factor that is the reciprocal
-- of a whole number (mg/dL to g/L: 0.01) divides by that number, as 95 * 0.01 would give
-- 0.9500000000000001 where 95 / 100 gives 0.95; a factor of 1 leaves the value as it was.
CREATE OR REPLACE MACRO lab_normalized_value(value, factor) AS
    CASE
        WHEN factor >= 1 OR factor <= 0 OR abs(1 / factor - round(1 / factor)) > 1e-9 / factor
            THEN value * factor
        ELSE value / round(1 / factor)
    END;
