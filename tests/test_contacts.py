"""Customers file join, phone normalisation and suppression."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import ROOT
from winback.contacts import (
    Suppression,
    contacts_from_orders,
    default_country,
    format_phones,
    merge_contacts,
    read_customers,
    read_suppression,
    suppressed,
)
from winback.errors import InputDataError, InputNotFoundError

CUSTOMERS = ROOT / "sample_data" / "customers.csv"


def test_sample_customers_file_turkish_headers():
    loaded = read_customers(str(CUSTOMERS))
    info = loaded.info
    assert info.columns == {"customer_id": "Müşteri No", "name": "Ad Soyad / Unvan", "phone": "Telefon",
                            "email": "E-posta", "owner": "Satış Temsilcisi"}
    assert info.customers == 1800 and info.duplicate_ids == 0
    frame = loaded.contacts
    assert frame.loc["00097", "name"] == "Hatice Yılmaz"
    assert frame.loc["00115", "phone"] == ""
    assert not frame["do_not_contact"].any()
    assert frame.index.str.fullmatch(r"\d{5}").all()


def test_legacy_encoding_comma_and_do_not_contact_words(write):
    text = ("Customer ID,Company,Mobile,Email,Do not contact\r\n"
            "001,Çay Evi,0532 111 22 33,a@b.tr,yes\r\n"
            "002,Kahveci,0532 111 22 34,,\r\n"
            "003,Şeker,,c@d.tr,Hayır\r\n"
            "004,Özlem,,,x\r\n")
    path = write("c.csv", text.encode("cp1254"))
    frame = read_customers(path).contacts
    assert frame.loc["001", "name"] == "Çay Evi"
    assert frame["do_not_contact"].to_dict() == {"001": True, "002": False, "003": False, "004": True}


def test_russian_headers_in_cp1251(write):
    text = "Код клиента;Наименование;Телефон;Менеджер;Не звонить\n77;ООО Ромашка;8 912 345-67-89;Иванов;да\n"
    loaded = read_customers(write("r.csv", text.encode("cp1251")))
    assert loaded.info.encoding == "cp1251"
    row = loaded.contacts.loc["77"]
    assert (row["name"], row["owner"], bool(row["do_not_contact"])) == ("ООО Ромашка", "Иванов", True)


def test_mapping_names_columns_the_headers_do_not(write):
    path = write("c.csv", "Kod;Kim;Hat;Dikkat\n1;Ali;05321234567;1\n")
    with pytest.raises(InputDataError, match=r"--customers-map customer_id=COLUMN"):
        read_customers(path)
    frame = read_customers(path, mapping=["customer_id=Kod", "name=Kim", "phone=Hat",
                                          "do_not_contact=Dikkat"]).contacts
    assert frame.loc["1"].tolist() == ["Ali", "05321234567", "", "", True]


def test_duplicate_ids_merge_last_non_empty_and_any_do_not_contact(write):
    path = write("c.csv", "customer_id;name;phone;dnc\n5;Old name;0532 000 00 01;\n5;New name;;1\n")
    loaded = read_customers(path)
    assert loaded.info.duplicate_ids == 1
    assert loaded.contacts.loc["5"].tolist() == ["New name", "0532 000 00 01", "", "", True]


def test_missing_customers_file_is_not_found():
    with pytest.raises(InputNotFoundError):
        read_customers("no-such-customers.csv")


def test_orders_columns_latest_non_empty_and_file_wins():
    orders = pd.DataFrame({
        "customer_id": ["1", "1", "2", "42"],
        "order_date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-01-01", "2025-01-01"]),
        "line": [2, 3, 4, 5],
        "phone": ["0532 000 00 01", "", "0532 000 00 02", ""],
        "name": ["Ali", "Ali Veli", "", ""],
    })
    mine = contacts_from_orders(orders)
    assert mine.loc["1", "phone"] == "0532 000 00 01" and mine.loc["1", "name"] == "Ali Veli"
    card = pd.DataFrame({"name": ["Veli Ltd", "Kırk İki"], "phone": ["", "0532 000 00 42"], "email": "",
                         "owner": ["Elif", ""], "do_not_contact": [False, True]},
                        index=pd.Index(["1", "00042"], name="customer_id"))
    assert "42" not in mine.index  # no contact details in the orders: no row
    merged = merge_contacts(mine, card, order_ids=pd.Index(["1", "2", "42"]))
    assert merged.loc["1", "name"] == "Veli Ltd"
    assert merged.loc["1", "phone"] == "0532 000 00 01"  # the file has none: the orders' phone stays
    assert merged.loc["42", "phone"] == "0532 000 00 42"  # 00042 on the card is 42 in the orders
    assert bool(merged.loc["42", "do_not_contact"])


@pytest.mark.parametrize(("written", "country", "expected", "valid"), [
    ("0532 123 45 67", "TR", "+90 532 123 45 67", True),
    ("05321234567", "TR", "+90 532 123 45 67", True),
    ("+90 (532) 123-45-67", "TR", "+90 532 123 45 67", True),
    ("0090 532 123 45 67", "TR", "+90 532 123 45 67", True),
    ("050 123 45 67", "AZ", "+994 50 123 45 67", True),
    ("8 912 345-67-89", "RU", "+7 912 345-67-89", True),
    ("12345", "TR", "12345", False),
    ("=1+1", "TR", "=1+1", False),
    ("", "TR", "", False),
])
def test_format_phones(written, country, expected, valid):
    text, ok = format_phones(pd.Series([written]), country)
    assert text.tolist() == [expected]
    assert ok.tolist() == [valid]


def test_suppression_file_matches_id_phone_and_email(write):
    path = write("s.txt", "customer_id\n00007\n+90 532 111 22 33\n\"BOSS@Example.com\"; 00009\n")
    sup = read_suppression(path, country="TR")
    assert {"00007", "00009"} <= sup.ids
    assert sup.phones == {"+905321112233"}
    assert sup.emails == {"boss@example.com"}
    ids = pd.Index(["00007", "00008", "00010", "00011", "00012"], name="customer_id")
    contacts = pd.DataFrame({"name": "", "email": ["", "", "boss@example.com", "", ""],
                             "phone": ["", "0532 111 22 33", "", "0542 111 22 33", "0532 111 22 3"],
                             "owner": "", "do_not_contact": False}, index=ids)
    hit = suppressed(ids, contacts, sup, "TR")
    assert hit.to_dict() == {"00007": True, "00008": True, "00010": True, "00011": False, "00012": False}
    # Contacts in another order, and customers without a contacts row (00008: its phone unknown).
    some = contacts.iloc[[3, 0, 2, 4]]
    hit = suppressed(ids, some, sup, "TR")
    assert hit.to_dict() == {"00007": True, "00008": False, "00010": True, "00011": False,
                             "00012": False}


def test_no_suppression_hits_nobody():
    ids = pd.Index(["1"], name="customer_id")
    assert not suppressed(ids, pd.DataFrame(), None, "TR").any()
    empty = Suppression("x", frozenset(), frozenset(), frozenset())
    assert empty.size == 0


def test_default_country_from_currency():
    assert default_country("AZN") == "AZ"
    assert default_country("RUB") == "RU"
    assert default_country(None) == "TR"
    assert default_country("EUR") == "TR"


def test_card_ids_are_matched_without_leading_zeros_only_when_that_is_unambiguous():
    """A card id that matches no order id is renamed to the order id it equals without leading
    zeros, unless two order ids share that form, the order id has a card of its own, or two cards
    would take the same order id."""
    from winback.contacts import _align_ids

    order_ids = pd.Index(["1", "42", "99", "099", "5", "6", "0", "77x"], dtype="str")
    cards = ["1", "00042", "0099", "005", "5", "0006", "006", "0077", "00", "abc"]
    card = pd.DataFrame({"name": [f"card {c}" for c in cards]},
                        index=pd.Index(cards, dtype="str", name="customer_id"))
    aligned = _align_ids(card, order_ids)
    assert dict(zip(aligned["name"], aligned.index, strict=True)) == {
        "card 1": "1", "card 00042": "42", "card 0099": "0099", "card 005": "005", "card 5": "5",
        "card 0006": "0006", "card 006": "006", "card 0077": "0077", "card 00": "0",
        "card abc": "abc"}
    assert aligned.index.name == "customer_id"
    assert list(_align_ids(card.iloc[[0, 4]], order_ids).index) == ["1", "5"]


@pytest.mark.parametrize("text", [
    ("\ufeffMüşteri No;Ad Soyad;Telefon;E-posta;Temsilci;Aranmasın;Not\r\n"
     '"00042";" Çay Evi ";0532 111 22 33;a@b.tr;Elif;evet;x\r\n'
     '042;"Kahveci ""Usta""";;;;hayır;\r\n'
     ';Boş Kimlik;0532 000 00 00;;;;\r\n'
     '"00042";;0532 111 22 44;;Ali;;\r\n'
     '7;  ;  ;c@d.az;Elif;HAYIR;y\r\n'),
    "Customer ID,Company,Phone\n1,A,0532 111 22 33\n2,B,\n1,,0532 999 88 77\n",
])
def test_customers_file_read_fast_or_thoroughly_gives_the_same(write, text):
    """A plain UTF-8 customers file is read by the orders' fast reader (its role columns, by
    Arrow); naming an encoding sends it to the thorough reader. Both give the same contacts and
    the same summary: quotes, doubled quotes, spaces, a byte order mark, empty and repeated ids, a
    do-not-contact column."""
    from winback.importer import fast

    path = write("cards.csv", text.encode("utf-8"))
    _, delimiter, n_fields, _ = fast.plain_layout(str(path), "cards.csv")
    assert fast.read_text(str(path), delimiter, n_fields, [0, 1]) is not None  # read fast, then
    quick = read_customers(str(path))
    encoding = "utf-8-sig" if text.startswith("\ufeff") else "utf-8"
    thorough = read_customers(str(path), encoding=encoding)
    pd.testing.assert_frame_equal(quick.contacts, thorough.contacts)
    assert quick.info == thorough.info
    assert quick.info.duplicate_ids == 1 and len(quick.contacts) >= 2
