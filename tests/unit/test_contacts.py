"""services/contacts.py: address lists as people type them, and contacts found by address."""
import pytest

from app.extensions import db
from app.services import contacts
from app.services.contacts import AddressError
from tests.conftest import make_contact


@pytest.mark.parametrize("typed, expected", [
    ("", []),
    ("  ,; ", []),
    ("ann@example.com", [("", "ann@example.com")]),
    ("Ann Lee <ann@example.com>; bob@example.org", [("Ann Lee", "ann@example.com"), ("", "bob@example.org")]),
    ('"Lee, Ann" <ann@example.com>', [("Lee, Ann", "ann@example.com")]),  # a comma inside quotes
    ("ann@example.com\nANN@EXAMPLE.COM", [("", "ann@example.com")]),         # duplicates dropped
    ("ann@EXAMPLE.com", [("", "ann@example.com")]),                          # domain normalised
])
def test_parse_addresses(app, typed, expected):
    assert contacts.parse_addresses(typed) == expected


@pytest.mark.parametrize("typed", [
    "nope", "ann@", "@example.com", "a@b.c\u202e", "<script>@example.com", "ann@exa mple.com",
])
def test_parse_addresses_refuses_what_is_not_a_mailbox(app, typed):
    with pytest.raises(AddressError, match="is not an email address"):
        contacts.parse_addresses(typed)


def test_line_breaks_only_separate_addresses(app):
    """What would be a header in a raw mail is just more text here: no header can be smuggled in."""
    parsed = contacts.parse_addresses("ann@example.com\r\nBcc: evil@example.com")
    assert all("\n" not in name + address and "\r" not in name + address for name, address in parsed)
    assert [address for _, address in parsed][0] == "ann@example.com"


def test_at_most_twenty_addresses(app):
    assert len(contacts.parse_addresses(",".join(f"p{i}@example.com" for i in range(20)))) == 20
    with pytest.raises(AddressError, match="at most 20"):
        contacts.parse_addresses(",".join(f"p{i}@example.com" for i in range(21)))


def test_for_address_matches_case_insensitively_else_creates(app):
    known = make_contact("Grace", "Grace@Example.com")
    assert contacts.for_address("Someone", "grace@example.com").id == known.id
    new = contacts.for_address("", "linus@example.org")
    assert new.id and new.name == "linus" and new.email == "linus@example.org"
    assert contacts.for_address("Linus T", "LINUS@example.org").id == new.id
    db.session.rollback()
