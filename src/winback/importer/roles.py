"""Find what each column of an order export means, from its header, in five languages.

Headers are compared after :func:`normalize`: Unicode NFKD, accents and combining marks removed
(this also removes the stray U+0307 that ``'İ'.lower()`` leaves), case-folded, Turkish dotless ``ı``
and Azerbaijani ``ə`` folded to ``i`` and ``e``, punctuation turned into spaces. The synonym lists
below are written naturally and normalised the same way at import time.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from winback.errors import InputDataError

#: Roles an order file can have. Only ``customer_id`` and ``order_date`` are required.
REQUIRED_ROLES = ("customer_id", "order_date")

_SYNONYMS: dict[str, list[str]] = {
    "customer_id": [
        "customer id", "customer", "customer no", "customer number", "customer code", "client",
        "client id", "client code", "account id", "account number", "buyer id",
        "müşteri", "müşteri no", "müşteri numarası", "müşteri kodu", "müşteri id", "cari kod",
        "cari kodu", "cari hesap kodu", "cari no",
        "клиент", "код клиента", "id клиента", "номер клиента", "покупатель", "код покупателя",
        "контрагент", "код контрагента",
        "müştəri", "müştəri kodu", "müştəri nömrəsi", "müştəri id",
        "հաճախորդ", "հաճախորդի կոդ", "հաճախորդի id", "հաճախորդի համար",
    ],
    "order_date": [
        "order date", "date", "purchase date", "invoice date", "transaction date", "created at",
        "sipariş tarihi", "tarih", "fatura tarihi", "işlem tarihi", "satış tarihi", "belge tarihi",
        "дата", "дата заказа", "дата покупки", "дата документа", "дата продажи",
        "sifariş tarixi", "tarix", "satış tarixi",
        "ամսաթիվ", "պատվերի ամսաթիվ", "վաճառքի ամսաթիվ",
    ],
    "amount": [
        "amount", "total", "order total", "revenue", "sales", "net amount", "gross amount", "value",
        "sum", "price total",
        "tutar", "toplam tutar", "net tutar", "satış tutarı", "fatura tutarı", "brüt tutar",
        "сумма", "сумма заказа", "выручка", "стоимость", "сумма продажи",
        "məbləğ", "ümumi məbləğ", "satış məbləği",
        "գումար", "ընդհանուր գումար",
    ],
    "order_id": [
        "order id", "order no", "order number", "order", "invoice", "invoice no", "invoice number",
        "sipariş no", "sipariş numarası", "sipariş", "fatura no", "belge no", "evrak no",
        "номер заказа", "заказ", "номер документа", "документ",
        "sifariş no", "sifariş nömrəsi", "sifariş",
        "պատվեր", "պատվերի համար",
    ],
    "quantity": [
        "quantity", "qty", "units", "adet", "miktar", "количество", "кол во", "miqdar", "say",
        "քանակ",
    ],
    "cost": [
        "cost", "cogs", "unit cost total", "maliyet", "alış tutarı", "себестоимость", "затраты",
        "maya dəyəri", "xərc", "ինքնարժեք",
    ],
    "margin": [
        "margin", "profit", "gross profit", "gross margin", "kar", "kâr", "brüt kar", "marj",
        "прибыль", "маржа", "валовая прибыль", "mənfəət", "gəlir marjası", "շահույթ",
    ],
    "product": [
        "product", "item", "sku", "product name", "item name", "ürün", "ürün adı", "stok adı",
        "hizmet", "товар", "номенклатура", "продукт", "наименование товара", "məhsul", "mal",
        "ապրանք",
    ],
    "status": [
        "status", "order status", "state", "durum", "sipariş durumu", "статус", "состояние",
        "статус заказа", "vəziyyət", "կարգավիճակ",
    ],
    "owner": [
        "owner", "account owner", "account manager", "sales rep", "salesperson", "sales manager",
        "manager", "satış temsilcisi", "temsilci", "müşteri temsilcisi", "plasiyer",
        "менеджер", "ответственный", "торговый представитель", "менеджер клиента",
        "menecer", "satış nümayəndəsi", "məsul şəxs", "մենեջեր", "պատասխանատու",
    ],
    "referred_by": [
        "referred by", "referrer", "referral", "referred by customer", "referans", "referans müşteri",
        "tavsiye eden", "referans veren", "кто привел", "по рекомендации", "рекомендатель",
        "tövsiyə edən", "ուղղորդող",
    ],
    "name": [
        "name", "customer name", "client name", "company", "company name", "full name",
        "ad soyad", "ad", "unvan", "müşteri adı", "firma", "firma adı", "cari adı", "ad soyad unvan",
        "имя", "фио", "наименование", "название", "клиент наименование",
        "müştəri adı", "ad soyad", "şirkət", "անուն", "անուն ազգանուն",
    ],
    "phone": [
        "phone", "telephone", "mobile", "tel", "phone number", "telefon", "gsm", "cep telefonu",
        "cep", "телефон", "моб телефон", "мобильный", "telefon nömrəsi", "mobil", "հեռախոս",
    ],
    "email": [
        "email", "e mail", "mail", "e posta", "eposta", "электронная почта", "эл почта", "почта",
        "e poçt", "elektron poçt", "էլ փոստ", "էլփոստ",
    ],
    "currency": [
        "currency", "para birimi", "döviz", "döviz cinsi", "валюта", "valyuta", "արժույթ",
    ],
}

# Words inside an amount header that say whether tax is included.
_NET_WORDS = ("kdv haric", "net", "без ндс", "edv siz", "edvsiz", "excl", "excluding", "без налога",
              "առանց աահ")
_GROSS_WORDS = ("kdv dahil", "gross", "brut", "с ндс", "edv daxil", "incl", "including", "աահ-ով")

_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_FOLD = str.maketrans({"ı": "i", "ə": "e"})


def normalize(text: str) -> str:
    """Fold a header or keyword for comparison: case, accents, Turkish i, punctuation, spaces."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.casefold().translate(_FOLD)
    return _PUNCT.sub(" ", folded).strip()


_NORMALIZED: dict[str, set[str]] = {
    role: {normalize(s) for s in names} for role, names in _SYNONYMS.items()
}
ROLES = tuple(_SYNONYMS)
#: The roles whose columns hold money.
MONEY_ROLES = ("amount", "cost", "margin")


@dataclass(frozen=True)
class ColumnMatch:
    role: str
    index: int
    header: str
    score: int  # 100 exact, less for partial matches


#: Each role's synonyms as word sets, with the weight of a match (more and longer words weigh more).
_SYNONYM_WORDS: dict[str, list[tuple[frozenset[str], int]]] = {
    role: [(frozenset(syn.split()), 10 * len(syn.split()) + len(syn)) for syn in syns if syn.split()]
    for role, syns in _NORMALIZED.items()
}
#: The same, by each of their words: a synonym all of whose words are among a header's is listed
#: under each of them, so only the lists of the header's own words are looked through (a data cell,
#: whose words name nothing, under none). Looking through every synonym of every role for each cell
#: of the head's first rows took 0.03-0.04 s at every start.
_SYNONYMS_BY_WORD: dict[str, dict[str, list[tuple[frozenset[str], int]]]] = {
    role: {word: [(words, weight) for words, weight in pairs if word in words]
           for word in set().union(*(words for words, _ in pairs))}
    for role, pairs in _SYNONYM_WORDS.items()
}


#: Every synonym, and every word of one: a header that is none and has none names no role.
_ANY_SYNONYM = frozenset().union(*_NORMALIZED.values())
_ANY_SYNONYM_WORD = frozenset().union(*_SYNONYMS_BY_WORD.values())


def could_name_a_role(header_norm: str) -> bool:
    """False when no role's :func:`_score` of the normalized header can be above 0 (a data cell,
    usually): then there is no need to score it against each role."""
    return header_norm in _ANY_SYNONYM or not _ANY_SYNONYM_WORD.isdisjoint(header_norm.split())


def _score(header_norm: str, role: str) -> int:
    """How well a normalized header names ``role``: 100 for a synonym, else up to 80 when every word of
    a synonym is among the header's words. No bracket step: ``normalize`` has turned brackets into
    spaces already ("Amount (TRY)" is "amount try")."""
    if not header_norm:
        return 0
    if header_norm in _NORMALIZED[role]:
        return 100
    tokens = set(header_norm.split())
    by_word = _SYNONYMS_BY_WORD[role]
    best = 0
    for token in tokens:
        for words, weight in by_word.get(token, ()):
            if weight > best and words <= tokens:
                best = weight
    return min(best, 80)


def amount_basis(header: str) -> str:
    """'net', 'gross' or 'unknown': whether an amount column includes tax, from its header."""
    norm = f" {normalize(header)} "
    if any(f" {normalize(w)} " in norm for w in _GROSS_WORDS):
        return "gross"
    if any(f" {normalize(w)} " in norm for w in _NET_WORDS):
        return "net"
    return "unknown"


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """Parse ``--map ROLE=COLUMN`` values into {role: column}; raise on unknown roles."""
    mapping: dict[str, str] = {}
    for item in items or []:
        for part in item.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise InputDataError(
                    f"--map expects ROLE=COLUMN, got '{part}'. Example: --map customer_id='Müşteri No'"
                )
            role, column = (p.strip() for p in part.split("=", 1))
            if role not in ROLES and column in ROLES:  # accept COLUMN=ROLE too
                role, column = column, role
            if role not in ROLES:
                raise InputDataError(
                    f"--map: unknown role '{role}'. Roles: {', '.join(ROLES)}."
                )
            mapping[role] = column
    return mapping


def assign_roles(headers: list[str], mapping: dict[str, str], source: str) -> dict[str, int]:
    """Decide which column plays which role. Returns {role: column index}.

    ``mapping`` (from ``--map``) wins; a column named there is a header name or a 1-based position.
    Every other column gets the role it matches best. Two columns matching one role equally well is
    an error, never a guess.
    """
    chosen: dict[str, int] = {}
    for role, column in mapping.items():
        idx = _resolve_column(column, headers, role, source)
        chosen[role] = idx
    taken = set(chosen.values())
    candidates: dict[str, list[ColumnMatch]] = {}
    for idx, header in enumerate(headers):
        if idx in taken:
            continue
        norm = normalize(header)
        scores = [(_score(norm, role), role) for role in _NORMALIZED]
        best_score = max(s for s, _ in scores)
        if best_score == 0:
            continue
        best_roles = [r for s, r in scores if s == best_score]
        role = best_roles[0]
        if role in chosen:
            continue
        candidates.setdefault(role, []).append(ColumnMatch(role, idx, header, best_score))
    for role, matches in candidates.items():
        top = max(m.score for m in matches)
        best = [m for m in matches if m.score == top]
        if len(best) > 1:
            names = " and ".join(f"'{m.header}' (column {m.index + 1})" for m in best)
            raise InputDataError(
                f"{source}: columns {names} could both be the {role.replace('_', ' ')}. "
                f"Say which one with --map {role}='{best[0].header}' (or a column number)."
            )
        chosen[role] = best[0].index
    missing = [r for r in REQUIRED_ROLES if r not in chosen]
    if missing:
        found = ", ".join(f"'{h}'" for h in headers if h.strip()) or "(none)"
        hint = " ".join(f"--map {r}=COLUMN" for r in missing)
        raise InputDataError(
            f"{source}: no {' or '.join(m.replace('_', ' ') for m in missing)} column found. "
            f"Headers found: {found}. Name the column with {hint} (a header name or a column number)."
        )
    return chosen


def _resolve_column(column: str, headers: list[str], role: str, source: str) -> int:
    if column.isdigit():
        idx = int(column) - 1
        if 0 <= idx < len(headers):
            return idx
        raise InputDataError(
            f"{source}: --map {role}={column}: the file has {len(headers)} columns."
        )
    norm = normalize(column)
    hits = [i for i, h in enumerate(headers) if h == column] or [
        i for i, h in enumerate(headers) if normalize(h) == norm
    ]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise InputDataError(
            f"{source}: --map {role}='{column}' matches {len(hits)} columns; use a column number "
            f"instead (1 = first column)."
        )
    found = ", ".join(f"'{h}'" for h in headers if h.strip())
    raise InputDataError(f"{source}: --map {role}='{column}': no such column. Headers found: {found}.")
