"""Word lists for the synthetic organisation generator (names, companies, subjects).

Kept small and hand-written so generated data stays plausible, stable across Python versions
and free of real companies: every domain is built under the reserved ``.example`` and
``.test`` top-level domains.
"""

from __future__ import annotations

import unicodedata

FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hannes", "Ines", "Jonas",
    "Katrin", "Lukas", "Marta", "Nils", "Olga", "Paul", "Quinn", "Rosa", "Stefan", "Tanja",
    "Ugo", "Vera", "Wei", "Xenia", "Yusuf", "Zoë", "Jürgen", "Søren", "Chloé", "José",
    "Agnieszka", "Björn", "Émile", "Ngozi", "Priya", "Hiroshi", "Fatima", "Mateo", "Aoife",
    "Lena", "Omar", "Sanne", "Tomás", "Ingrid", "Kwame", "Mia", "Rafael", "Sofia", "Tariq",
)

LAST_NAMES = (
    "Schmidt", "Müller", "Dubois", "García", "Rossi", "Nowak", "Jensen", "Kowalski", "Novak",
    "Silva", "Smith", "Brown", "Weber", "Wagner", "Becker", "Hoffmann", "Schäfer", "Koch",
    "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Zimmermann", "Braun", "Krüger",
    "Hartmann", "Lange", "Werner", "Krause", "Lehmann", "Köhler", "Meier", "Lorenz", "Peters",
    "Okafor", "Tanaka", "Sato", "Patel", "Haddad", "O'Brien", "Lindqvist", "Virtanen", "Øberg",
    "Fernández", "Costa", "Yilmaz", "Ivanova", "Chen", "Nakamura", "van Dijk", "de Vries",
)

COMPANY_WORDS_A = (
    "blue", "north", "silver", "bright", "iron", "green", "rapid", "clear", "solid", "prime",
    "alpine", "harbor", "summit", "cedar", "lunar", "coral", "delta", "ember", "falcon", "granite",
    "hollow", "indigo", "juniper", "kestrel", "linden", "maple", "nova", "orbit", "pioneer",
    "quartz", "river", "sterling", "timber", "unity", "vertex", "willow", "zenith", "amber",
)

COMPANY_WORDS_B = (
    "logistics", "systems", "foods", "energy", "labs", "works", "robotics", "textiles", "media",
    "health", "motors", "capital", "retail", "pharma", "steel", "software", "freight", "optics",
    "chemicals", "foundry", "analytics", "outfitters", "brewing", "aerospace", "marine", "dynamics",
)

COMPANY_SUFFIXES = ("GmbH", "Inc.", "Ltd", "AG", "S.A.", "B.V.", "Oy", "SE", "LLC", "")

TEAMS = ("DACH", "Nordics", "UK&I", "Benelux", "France", "Iberia", "Enterprise", "Mid-Market")

CUSTOMER_TIMEZONES = (
    "Europe/Berlin", "Europe/London", "Europe/Paris", "America/New_York", "America/Chicago",
    "Asia/Tokyo", "Asia/Kolkata", "Europe/Helsinki", "America/Sao_Paulo", "Australia/Sydney",
)

SUBJECTS = (
    "Quarterly review", "Renewal terms", "Pricing for the next phase", "Follow-up from our call",
    "Introduction", "Contract redlines", "Pilot results", "Support escalation", "Roadmap preview",
    "Invoice question", "Workshop agenda", "Security questionnaire", "Next steps",
    "Reference call", "Budget planning 2027", "Onboarding plan", "Expansion to the EU team",
    "Meeting notes", "Proposal v2", "Kick-off", "Läuft alles nach Plan?", "Réunion de suivi",
)

INTERNAL_SUBJECTS = (
    "Forecast call", "Pipeline review", "Team lunch", "Territory planning", "Deal desk request",
    "Expense report", "1:1 notes", "Hiring update", "Offsite logistics", "Commission statement",
)

MEETING_TITLES = (
    "Quarterly business review", "Demo", "Discovery call", "Pricing discussion", "Workshop",
    "Steering committee", "Technical deep dive", "Contract review", "Executive sponsor sync",
)

VENDOR_WORDS = ("cloudhost", "payroll", "travelbook", "crmtool", "analyticsly", "officesupply",
                "recruitr", "eventhub", "legaldocs", "printshop")

FREEMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com")

_TRANSLIT = str.maketrans({"ß": "ss", "ø": "o", "Ø": "o", "æ": "ae", "ł": "l", "'": "", " ": ""})
_UMLAUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "ae", "Ö": "oe", "Ü": "ue"})


def ascii_slug(text: str) -> str:
    """``"Jürgen"`` → ``"juergen"``, ``"Chloé"`` → ``"chloe"``, ``"van Dijk"`` → ``"vandijk"``."""
    t = text.translate(_UMLAUT).translate(_TRANSLIT)
    t = unicodedata.normalize("NFKD", t)
    return "".join(c for c in t if c.isascii() and c.isalnum()).lower()
