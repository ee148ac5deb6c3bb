"""Code tables for US primary care: LOINC labs and vitals, RxNorm drugs, CVX vaccines, SNOMED.

Codes and displays are real (checked against Synthea output and the terminologies), so the
generated records exercise the pipeline's code handling the way provider data does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
MVX = "http://hl7.org/fhir/sid/mvx"
UCUM = "http://unitsofmeasure.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
MEDICATION_REQUEST_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"


@dataclass(frozen=True, slots=True)
class Code:
    """One coding: system, code and display."""

    system: str
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class QuantityLab:
    """A numeric lab test with its UCUM unit, reference range and typical spread."""

    loinc: str
    unit: str
    low: float | None
    high: float | None
    mean: float
    sd: float
    decimals: int

    @property
    def range_text(self) -> str:
        """The range as labs print it ("3.5-5.0", "<100", ">39"), used by Apple-style records."""
        if self.low is not None and self.high is not None:
            return f"{self.low:.{self.decimals}f}-{self.high:.{self.decimals}f}"
        if self.high is not None:
            return f"<{self.high + 10**-self.decimals:.{self.decimals}f}"
        assert self.low is not None
        return f">{self.low - 10**-self.decimals:.{self.decimals}f}"


@dataclass(frozen=True, slots=True)
class Vital:
    """A vital sign measured at most visits (category vital-signs, not a lab result)."""

    loinc: str
    unit: str
    mean: float
    sd: float
    decimals: int


@dataclass(frozen=True, slots=True)
class Drug:
    """An RxNorm clinical drug with the sig a prescriber would write."""

    rxnorm: str
    display: str
    form: str
    sig: str
    per_day: int


@dataclass(frozen=True, slots=True)
class Vaccine:
    """A CVX vaccine with its manufacturer (MVX) and the prefix of its lot numbers."""

    cvx: str
    display: str
    mvx: str
    manufacturer: str
    lot_prefix: str


@dataclass(frozen=True, slots=True)
class ChronicCondition:
    """A chronic problem: drugs that treat it, panels that monitor it and how it shifts labs."""

    code: Code
    drugs: tuple[Drug, ...]
    panels: tuple[str, ...]
    lab_shift: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AcuteProblem:
    """A reason for an unplanned visit: its usual drug, lab panels and point-of-care test."""

    code: Code
    drug: Drug | None
    panels: tuple[str, ...] = ()
    coded_test: str | None = None
    test_positive: bool = False


@dataclass(frozen=True, slots=True)
class EncounterKind:
    """An encounter class (v3 ActCode) and SNOMED type."""

    act_code: str
    act_display: str
    type: Code


LOINC_DISPLAY: Mapping[str, str] = {
    "2345-7": "Glucose [Mass/volume] in Serum or Plasma",
    "3094-0": "Urea nitrogen [Mass/volume] in Serum or Plasma",
    "2160-0": "Creatinine [Mass/volume] in Serum or Plasma",
    "2951-2": "Sodium [Moles/volume] in Serum or Plasma",
    "2823-3": "Potassium [Moles/volume] in Serum or Plasma",
    "17861-6": "Calcium [Mass/volume] in Serum or Plasma",
    "2093-3": "Cholesterol [Mass/volume] in Serum or Plasma",
    "13457-7": "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation",
    "2085-9": "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
    "2571-8": "Triglyceride [Mass/volume] in Serum or Plasma",
    "4548-4": "Hemoglobin A1c/Hemoglobin.total in Blood",
    "718-7": "Hemoglobin [Mass/volume] in Blood",
    "6690-2": "Leukocytes [#/volume] in Blood by Automated count",
    "777-3": "Platelets [#/volume] in Blood by Automated count",
    "3016-3": "Thyrotropin [Units/volume] in Serum or Plasma",
    "1742-6": "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    "62238-1": "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, "
    "Plasma or Blood by Creatinine-based formula (CKD-EPI)",
    "94500-6": "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA with "
    "probe detection",
    "78012-2": "Streptococcus pyogenes Ag [Presence] in Throat by Rapid immunoassay",
    "85354-9": "Blood pressure panel with all children optional",
    "8480-6": "Systolic blood pressure",
    "8462-4": "Diastolic blood pressure",
    "8867-4": "Heart rate",
    "29463-7": "Body weight",
    "39156-5": "Body mass index (BMI) [Ratio]",
    "8310-5": "Body temperature",
    "59408-5": "Oxygen saturation in Arterial blood by Pulse oximetry",
    "72166-2": "Tobacco smoking status",
}

# loinc, unit, low, high, mean, sd, decimals: means and spreads give ~10% out-of-range results.
QUANTITY_LABS: Mapping[str, QuantityLab] = {
    lab.loinc: lab
    for lab in (
        QuantityLab("2345-7", "mg/dL", 70, 99, 88, 9, 0),
        QuantityLab("3094-0", "mg/dL", 7, 20, 14, 4, 0),
        QuantityLab("2160-0", "mg/dL", 0.6, 1.3, 0.95, 0.17, 2),
        QuantityLab("2951-2", "mmol/L", 136, 145, 140, 2.4, 0),
        QuantityLab("2823-3", "mmol/L", 3.5, 5.0, 4.2, 0.35, 1),
        QuantityLab("17861-6", "mg/dL", 8.6, 10.3, 9.4, 0.4, 1),
        QuantityLab("2093-3", "mg/dL", None, 199, 185, 28, 0),
        QuantityLab("13457-7", "mg/dL", None, 99, 95, 25, 0),
        QuantityLab("2085-9", "mg/dL", 40, None, 55, 12, 0),
        QuantityLab("2571-8", "mg/dL", None, 149, 120, 40, 0),
        QuantityLab("4548-4", "%", 4.0, 5.6, 5.3, 0.3, 1),
        QuantityLab("718-7", "g/dL", 12.0, 17.5, 14.2, 1.3, 1),
        QuantityLab("6690-2", "10*3/uL", 4.5, 11.0, 7.2, 1.8, 1),
        QuantityLab("777-3", "10*3/uL", 150, 400, 260, 55, 0),
        QuantityLab("3016-3", "m[IU]/L", 0.4, 4.0, 1.9, 0.9, 2),
        QuantityLab("1742-6", "U/L", 7, 56, 26, 10, 0),
    )
}

GLUCOSE, CREATININE, EGFR = "2345-7", "2160-0", "62238-1"
EGFR_NORMAL_TEXT = ">60"

CODED_LABS: Mapping[str, tuple[Code, ...]] = {
    "94500-6": (Code(SNOMED, "260415000", "Not detected"), Code(SNOMED, "260373001", "Detected")),
    "78012-2": (Code(SNOMED, "260385009", "Negative"), Code(SNOMED, "10828004", "Positive")),
}

PANELS: Mapping[str, tuple[str, ...]] = {
    "bmp": ("2345-7", "3094-0", "2160-0", "2951-2", "2823-3", "17861-6"),
    "lipid": ("2093-3", "13457-7", "2085-9", "2571-8"),
    "a1c": ("4548-4",),
    "cbc": ("718-7", "6690-2", "777-3"),
    "tsh": ("3016-3",),
    "alt": ("1742-6",),
}

BLOOD_PRESSURE, SYSTOLIC, DIASTOLIC = "85354-9", "8480-6", "8462-4"
BODY_WEIGHT, BMI, SMOKING_STATUS = "29463-7", "39156-5", "72166-2"
HEART_RATE, BODY_TEMPERATURE, OXYGEN_SATURATION = "8867-4", "8310-5", "59408-5"
VITALS: Mapping[str, Vital] = {
    vital.loinc: vital
    for vital in (
        Vital(HEART_RATE, "/min", 74, 9, 0),
        Vital(BODY_TEMPERATURE, "Cel", 37.4, 0.6, 1),
        Vital(OXYGEN_SATURATION, "%", 97, 1.2, 0),
    )
}
SMOKING_ANSWERS = (
    Code(SNOMED, "266919005", "Never smoker"),
    Code(SNOMED, "8517006", "Ex-smoker"),
    Code(SNOMED, "77176002", "Smoker"),
)

LISINOPRIL = Drug(
    "314076", "lisinopril 10 MG Oral Tablet", "Tablet", "Take 1 tablet by mouth once daily.", 1
)
AMLODIPINE = Drug(
    "197361", "amlodipine 5 MG Oral Tablet", "Tablet", "Take 1 tablet by mouth once daily.", 1
)
HCTZ = Drug(
    "310798",
    "hydrochlorothiazide 25 MG Oral Tablet",
    "Tablet",
    "Take 1 tablet by mouth every morning.",
    1,
)
METFORMIN = Drug(
    "860975",
    "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
    "Tablet",
    "Take 1 tablet by mouth twice daily with meals.",
    2,
)
ATORVASTATIN = Drug(
    "617310", "atorvastatin 20 MG Oral Tablet", "Tablet", "Take 1 tablet by mouth at bedtime.", 1
)
SIMVASTATIN = Drug(
    "312961", "simvastatin 20 MG Oral Tablet", "Tablet", "Take 1 tablet by mouth in the evening.", 1
)
LEVOTHYROXINE = Drug(
    "966222",
    "levothyroxine sodium 0.075 MG Oral Tablet",
    "Tablet",
    "Take 1 tablet by mouth every morning on an empty stomach.",
    1,
)
ALBUTEROL = Drug(
    "745679",
    "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
    "Inhaler",
    "Inhale 2 puffs every 4 to 6 hours as needed for wheezing.",
    4,
)
FLUTICASONE = Drug(
    "895994",
    "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
    "Inhaler",
    "Inhale 2 puffs twice daily. Rinse mouth after use.",
    2,
)
AMOXICILLIN = Drug(
    "308192",
    "amoxicillin 500 MG Oral Tablet",
    "Tablet",
    "Take 1 tablet by mouth 3 times daily for 10 days.",
    3,
)
AMOX_CLAV = Drug(
    "562251",
    "amoxicillin 250 MG / clavulanate 125 MG Oral Tablet",
    "Tablet",
    "Take 1 tablet by mouth every 12 hours for 7 days.",
    2,
)
IBUPROFEN = Drug(
    "310965",
    "ibuprofen 200 MG Oral Tablet",
    "Tablet",
    "Take 2 tablets by mouth every 6 hours as needed for pain.",
    4,
)
ACETAMINOPHEN = Drug(
    "313782",
    "acetaminophen 325 MG Oral Tablet",
    "Tablet",
    "Take 2 tablets by mouth every 6 hours as needed for fever.",
    4,
)
ASPIRIN = Drug("243670", "aspirin 81 MG Oral Tablet", "Tablet", "Take 1 tablet by mouth daily.", 1)
NITROFURANTOIN = Drug(
    "311989",
    "nitrofurantoin 5 MG/ML Oral Suspension",
    "Suspension",
    "Take 10 mL by mouth every 6 hours for 5 days.",
    4,
)

OVER_THE_COUNTER = (ASPIRIN, IBUPROFEN, ACETAMINOPHEN)

HYPERTENSION = Code(SNOMED, "59621000", "Essential hypertension (disorder)")
CHRONIC_CONDITIONS: tuple[ChronicCondition, ...] = (
    ChronicCondition(
        HYPERTENSION,
        (LISINOPRIL, AMLODIPINE, HCTZ),
        ("bmp",),
    ),
    ChronicCondition(
        Code(SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"),
        (METFORMIN,),
        ("a1c", "bmp"),
        {"2345-7": 55, "4548-4": 2.1},
    ),
    ChronicCondition(
        Code(SNOMED, "55822004", "Hyperlipidemia (disorder)"),
        (ATORVASTATIN, SIMVASTATIN),
        ("lipid", "alt"),
        {"2093-3": 45, "13457-7": 40, "2571-8": 45},
    ),
    ChronicCondition(
        Code(SNOMED, "40930008", "Hypothyroidism (disorder)"),
        (LEVOTHYROXINE,),
        ("tsh",),
        {"3016-3": 2.6},
    ),
    ChronicCondition(Code(SNOMED, "195967001", "Asthma (disorder)"), (FLUTICASONE, ALBUTEROL), ()),
)

ACUTE_PROBLEMS: tuple[AcuteProblem, ...] = (
    AcuteProblem(Code(SNOMED, "444814009", "Viral sinusitis (disorder)"), ACETAMINOPHEN),
    AcuteProblem(
        Code(SNOMED, "195662009", "Acute viral pharyngitis (disorder)"),
        IBUPROFEN,
        coded_test="78012-2",
    ),
    AcuteProblem(
        Code(SNOMED, "43878008", "Streptococcal sore throat (disorder)"),
        AMOXICILLIN,
        coded_test="78012-2",
        test_positive=True,
    ),
    AcuteProblem(
        Code(SNOMED, "10509002", "Acute bronchitis (disorder)"), ALBUTEROL, coded_test="94500-6"
    ),
    AcuteProblem(
        Code(
            SNOMED,
            "840539006",
            "Disease caused by severe acute respiratory syndrome coronavirus 2 (disorder)",
        ),
        ACETAMINOPHEN,
        coded_test="94500-6",
        test_positive=True,
    ),
    AcuteProblem(
        Code(SNOMED, "68566005", "Urinary tract infectious disease (disorder)"), NITROFURANTOIN
    ),
    AcuteProblem(Code(SNOMED, "44465007", "Sprain of ankle (disorder)"), IBUPROFEN),
    AcuteProblem(Code(SNOMED, "36971009", "Sinusitis (disorder)"), AMOX_CLAV),
)
EMERGENCY_PROBLEMS: tuple[AcuteProblem, ...] = (
    AcuteProblem(Code(SNOMED, "29857009", "Chest pain (finding)"), ASPIRIN, ("cbc", "bmp")),
    AcuteProblem(Code(SNOMED, "21522001", "Abdominal pain (finding)"), None, ("cbc", "bmp", "alt")),
)
INPATIENT_PROBLEMS: tuple[AcuteProblem, ...] = (
    AcuteProblem(Code(SNOMED, "233604007", "Pneumonia (disorder)"), AMOX_CLAV, ("cbc", "bmp")),
)

CHECKUP = EncounterKind(
    "AMB",
    "ambulatory",
    Code(SNOMED, "185349003", "Encounter for check up (procedure)"),
)
FOLLOW_UP = EncounterKind(
    "AMB", "ambulatory", Code(SNOMED, "390906007", "Follow-up encounter (procedure)")
)
PROBLEM_VISIT = EncounterKind(
    "AMB",
    "ambulatory",
    Code(SNOMED, "185347001", "Encounter for problem (procedure)"),
)
EMERGENCY = EncounterKind(
    "EMER",
    "emergency",
    Code(SNOMED, "50849002", "Emergency room admission (procedure)"),
)
INPATIENT = EncounterKind(
    "IMP",
    "inpatient encounter",
    Code(SNOMED, "32485007", "Hospital admission (procedure)"),
)

FLU = (
    Vaccine("140", "Influenza, seasonal, injectable, preservative free", "SEQ", "Seqirus", "AV"),
    Vaccine(
        "150",
        "Influenza, injectable, quadrivalent, preservative free",
        "PMC",
        "Sanofi Pasteur",
        "UT",
    ),
)
COVID = (
    Vaccine(
        "208",
        "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, "
        "30 mcg/0.3mL dose",
        "PFR",
        "Pfizer, Inc",
        "EW",
    ),
    Vaccine(
        "207",
        "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, "
        "100 mcg/0.5mL dose",
        "MOD",
        "Moderna US, Inc.",
        "03",
    ),
)
TDAP = Vaccine("115", "Tdap", "SKB", "GlaxoSmithKline", "AC")
ZOSTER = Vaccine("187", "zoster vaccine recombinant", "SKB", "GlaxoSmithKline", "K")
PNEUMOCOCCAL = Vaccine("133", "Pneumococcal conjugate PCV 13", "PFR", "Pfizer, Inc", "FP")
HPV = Vaccine("62", "HPV, quadrivalent", "MSD", "Merck and Co., Inc.", "R")
