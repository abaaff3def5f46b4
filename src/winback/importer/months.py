"""Month names in the languages of our users' exports: Turkish, Russian, Azerbaijani, Armenian, English.

Names are compared after :func:`winback.importer.roles.normalize` (case, accents and Turkish i
folded). A token matches a month when it equals a name or abbreviation, or when it starts with a full
name (Russian and Armenian write the genitive: ``января``, ``հունվարի``) or is a prefix of at least
three letters that belongs to one month only.
"""

from __future__ import annotations

from winback.importer.roles import normalize

_NAMES: dict[int, list[str]] = {
    1: ["ocak", "oca", "январь", "января", "янв", "yanvar", "yan", "հունվար", "հունվարի", "january", "jan"],
    2: ["şubat", "şub", "февраль", "февраля", "фев", "fevral", "fev", "փետրվար", "փետրվարի", "february",
        "feb"],
    3: ["mart", "mar", "март", "марта", "мар", "մարտ", "մարտի", "march"],
    4: ["nisan", "nis", "апрель", "апреля", "апр", "aprel", "apr", "ապրիլ", "ապրիլի", "april"],
    5: ["mayıs", "may", "май", "мая", "մայիս", "մայիսի"],
    6: ["haziran", "haz", "июнь", "июня", "июн", "iyun", "հունիս", "հունիսի", "june", "jun"],
    7: ["temmuz", "tem", "июль", "июля", "июл", "iyul", "հուլիս", "հուլիսի", "july", "jul"],
    8: ["ağustos", "ağu", "август", "августа", "авг", "avqust", "avq", "օգոստոս", "օգոստոսի", "august",
        "aug"],
    9: ["eylül", "eyl", "сентябрь", "сентября", "сен", "сент", "sentyabr", "sen", "սեպտեմբեր",
        "սեպտեմբերի", "september", "sep", "sept"],
    10: ["ekim", "eki", "октябрь", "октября", "окт", "oktyabr", "okt", "հոկտեմբեր", "հոկտեմբերի",
         "october", "oct"],
    11: ["kasım", "kas", "ноябрь", "ноября", "ноя", "noyabr", "noy", "նոյեմբեր", "նոյեմբերի",
         "november", "nov"],
    12: ["aralık", "ara", "декабрь", "декабря", "дек", "dekabr", "dek", "դեկտեմբեր", "դեկտեմբերի",
         "december", "dec"],
}

_EXACT: dict[str, int] = {normalize(name): month for month, names in _NAMES.items() for name in names}
_FULL = sorted(((n, m) for n, m in _EXACT.items() if len(n) >= 4), key=lambda nm: -len(nm[0]))


def month_number(token: str) -> int | None:
    """The month (1-12) a written month name stands for, or None."""
    norm = normalize(token)
    if not norm:
        return None
    if norm in _EXACT:
        return _EXACT[norm]
    for name, month in _FULL:  # inflected forms: the token starts with a full name
        if norm.startswith(name):
            return month
    if len(norm) >= 3:
        months = {m for n, m in _EXACT.items() if n.startswith(norm)}
        if len(months) == 1:
            return months.pop()
    return None
