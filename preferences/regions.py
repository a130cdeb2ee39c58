"""Names of the countries and regions whose privacy and marketing rules Candor applies, in the
hosted pages' languages, so a person reads "Deutschland" where the contact stores "DE".

A small table rather than a locale database (neither Babel nor ICU is installed): the EU and EEA
(GDPR, ePrivacy), the United Kingdom and Switzerland, Canada (CASL) and Quebec (Law 25), the United
States (CAN-SPAM, TCPA) with the states whose privacy acts honour opt-out signals, and "EU" itself,
which brands use as a default. Any other valid code (consent.validators.jurisdiction_code) is shown
as the code. The stored value is always the code.
"""

from __future__ import annotations

# code: (English, German, French)
REGION_NAMES: dict[str, tuple[str, str, str]] = {
    "EU": ("European Union", "Europäische Union", "Union européenne"),
    "AT": ("Austria", "Österreich", "Autriche"),
    "BE": ("Belgium", "Belgien", "Belgique"),
    "BG": ("Bulgaria", "Bulgarien", "Bulgarie"),
    "CY": ("Cyprus", "Zypern", "Chypre"),
    "CZ": ("Czechia", "Tschechien", "Tchéquie"),
    "DE": ("Germany", "Deutschland", "Allemagne"),
    "DK": ("Denmark", "Dänemark", "Danemark"),
    "EE": ("Estonia", "Estland", "Estonie"),
    "ES": ("Spain", "Spanien", "Espagne"),
    "FI": ("Finland", "Finnland", "Finlande"),
    "FR": ("France", "Frankreich", "France"),
    "GR": ("Greece", "Griechenland", "Grèce"),
    "HR": ("Croatia", "Kroatien", "Croatie"),
    "HU": ("Hungary", "Ungarn", "Hongrie"),
    "IE": ("Ireland", "Irland", "Irlande"),
    "IT": ("Italy", "Italien", "Italie"),
    "LT": ("Lithuania", "Litauen", "Lituanie"),
    "LU": ("Luxembourg", "Luxemburg", "Luxembourg"),
    "LV": ("Latvia", "Lettland", "Lettonie"),
    "MT": ("Malta", "Malta", "Malte"),
    "NL": ("Netherlands", "Niederlande", "Pays-Bas"),
    "PL": ("Poland", "Polen", "Pologne"),
    "PT": ("Portugal", "Portugal", "Portugal"),
    "RO": ("Romania", "Rumänien", "Roumanie"),
    "SE": ("Sweden", "Schweden", "Suède"),
    "SI": ("Slovenia", "Slowenien", "Slovénie"),
    "SK": ("Slovakia", "Slowakei", "Slovaquie"),
    "IS": ("Iceland", "Island", "Islande"),
    "LI": ("Liechtenstein", "Liechtenstein", "Liechtenstein"),
    "NO": ("Norway", "Norwegen", "Norvège"),
    "CH": ("Switzerland", "Schweiz", "Suisse"),
    "GB": ("United Kingdom", "Vereinigtes Königreich", "Royaume-Uni"),
    "CA": ("Canada", "Kanada", "Canada"),
    "CA-QC": ("Quebec, Canada", "Quebec, Kanada", "Québec, Canada"),
    "US": ("United States", "Vereinigte Staaten", "États-Unis"),
    "US-CA": ("California, United States", "Kalifornien, Vereinigte Staaten", "Californie, États-Unis"),
    "US-CO": ("Colorado, United States", "Colorado, Vereinigte Staaten", "Colorado, États-Unis"),
    "US-CT": ("Connecticut, United States", "Connecticut, Vereinigte Staaten", "Connecticut, États-Unis"),
    "US-OR": ("Oregon, United States", "Oregon, Vereinigte Staaten", "Oregon, États-Unis"),
    "US-TX": ("Texas, United States", "Texas, Vereinigte Staaten", "Texas, États-Unis"),
}

_COLUMN = {"en": 0, "de": 1, "fr": 2}


def region_name(code: str, language: str) -> str:
    """The name of the country or region `code` in `language` (en, de or fr; else English),
    or the code itself when the table does not know it."""
    names = REGION_NAMES.get(code.strip().upper())
    if names is None:
        return code
    return names[_COLUMN.get(language.split("-")[0].lower(), 0)]
