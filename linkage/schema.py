"""Canonical fields, source kinds and event types: the vocabulary of DESIGN.md.

Every module that names a canonical field or an event type imports it from here.
"""

from __future__ import annotations

#: Canonical person fields (DESIGN.md, "Config"), in the column order of ``records``.
PERSON_FIELDS: tuple[str, ...] = (
    "given_name", "family_name", "full_name", "birth_date", "birth_year", "sex",
    "citizenship", "birth_country", "document_number", "document_country",
    "address", "locality", "postcode", "region",
)

#: Event fields by source kind (DESIGN.md, "Config").
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "border": ("crossing_date", "direction", "port", "purpose"),
    "visa": ("visa_category", "valid_from", "valid_to", "purpose"),
    "census": ("census_date", "year_of_arrival"),
    "register": ("registration_date", "deregistration_date", "death_date",
                 "naturalisation_date"),
    "generic": (),
}

KINDS: tuple[str, ...] = tuple(EVENT_FIELDS)

#: Fields that hold dates (parsed with the source's ``date_format``).
DATE_FIELDS: frozenset[str] = frozenset({
    "birth_date", "crossing_date", "valid_from", "valid_to", "census_date",
    "registration_date", "deregistration_date", "death_date", "naturalisation_date",
})
#: Fields that hold whole numbers.
INT_FIELDS: frozenset[str] = frozenset({"birth_year", "year_of_arrival"})
#: Fields that hold ISO 3166-1 alpha-3 country codes after normalisation.
COUNTRY_FIELDS: frozenset[str] = frozenset({"citizenship", "birth_country", "document_country"})

SEXES: frozenset[str] = frozenset({"F", "M", "X"})
DIRECTIONS: frozenset[str] = frozenset({"in", "out"})
PURPOSES: frozenset[str] = frozenset({
    "work", "seasonal_work", "study", "training", "health", "family", "tourism",
    "business", "asylum", "transit", "other",
})

#: Fields a kind cannot do without: a row whose value cannot be read is rejected.
REQUIRED_EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "border": ("crossing_date", "direction"),
    "visa": (),
    "census": (),
    "register": (),
    "generic": (),
}

#: Event types of the ``events`` table.
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "border": ("crossing_in", "crossing_out"),
    "visa": ("visa_start", "visa_end"),
    "census": ("census",),
    "register": ("register_in", "register_out", "death", "naturalisation"),
    "generic": (),
}

RESIDENCE_RULES: tuple[str, ...] = ("12/16", "6/12", "12/12")

STATUSES: tuple[str, ...] = (
    "resident_present", "resident_abroad", "temporary_present", "not_present", "provisional",
)

#: The four subpopulations of the UN framework used by the population accounts.
SUBPOPULATIONS: tuple[str, ...] = (
    "native_born_citizens", "native_born_foreign_citizens",
    "foreign_born_citizens", "foreign_born_foreign_citizens",
)

ALL_FIELDS: frozenset[str] = frozenset(PERSON_FIELDS).union(*EVENT_FIELDS.values())
