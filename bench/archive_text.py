"""The bench archive's people and words (bench/archive.py builds with them)."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

NOW = datetime(2026, 11, 1, tzinfo=UTC)

FIRST_NAMES = [
    "Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Barbara", "Ewa", "Krystyna",
    "Magdalena", "Joanna", "Łucja", "Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł",
    "Michał", "Marcin", "Łukasz", "Grzegorz", "Jakub", "Emma", "Olivia", "Sophie",
    "James", "Oliver", "Harry", "George", "Jack", "Amelia", "Isla",
]  # fmt: skip
LAST_NAMES = [
    "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski",
    "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur",
    "Kwiatkowski", "Krawczyk", "Piotrowski", "Grabowski", "Nowakowski", "Pawłowski",
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
    "Robinson", "Wright",
]  # fmt: skip
ADJECTIVES = ["Frosty", "Quiet", "Brave", "Sunny", "Swift", "Gentle", "Clever", "Lucky"]
ANIMALS = ["Wolf", "Fox", "Owl", "Bear", "Lynx", "Heron", "Otter", "Hare", "Crane"]
DOMAINS = ["gmail.com", "wp.pl", "onet.pl", "o2.pl", "interia.pl", "outlook.com", "example.com"]
# Distinct first names, none shared with customers: searching one finds one adviser.
ADVISER_FIRST_NAMES = [
    "Zofia", "Marek", "Julia", "Adam", "Ola", "Tom", "Lucy", "Ben", "Iga", "Igor", "Nina",
    "Olek", "Hanna", "Kacper", "Maja", "Filip", "Lena", "Szymon", "Alicja", "Wiktor",
    "Zuzanna", "Antoni", "Helena", "Jan", "Maria", "Leon", "Pola", "Tymon", "Ida", "Bruno",
    "Ruby", "Noah", "Ella", "Leo", "Mia", "Max",
]  # fmt: skip
ADVISER_LAST_NAMES = ["Wąsowska", "Lis", "Sowa", "Wilk", "Kruk", "Baker", "Grant", "Hart"]
BOT_NAMES = ["Asystent", "Helper", "Nocny", "Triage"]
CLOSED_TYPES = ["solved", "solved", "solved", "abandoned", "transferred", "timeout"]

# Most frequent first: drawn by a Zipf law, so the first few are in most
# conversations and the last in few.
POLISH = (  # noqa: SIM905 -- a sentence reads better than a hundred quoted words
    "nie się to jest w na i z że mam czy proszę zamówienie paczka już jeszcze kiedy "
    "dostawa kurier płatność faktura przelew zwrot wymiana rozmiar kolor produkt sklep "
    "konto hasło logowanie adres telefon gdzie dlaczego można bardzo pozdrawiam jutro "
    "dzisiaj wczoraj numer status przesyłki niestety oczywiście sprawdzę chwileczkę "
    "uszkodzona pudełko karton etykieta paczkomat odbiór punkt magazyn termin tydzień "
    "środa czwartek piątek sobota poniedziałek wtorek rabat kod promocja koszyk cena "
    "złotych gwarancja instrukcja ładowarka słuchawki buty kurtka sukienka spodnie "
    "łóżko krzesło stół lampa żarówka pościel ręcznik mydło szampon krem perfumy "
    "źle dobrze świetnie różnica między dostępność brak zamówić anulować zmienić"
).split()
ENGLISH = (  # noqa: SIM905
    "the i my is to a it and of you not have please when where parcel delivery courier "
    "payment invoice transfer refund exchange size colour product shop account password "
    "login address phone why can very much regards tomorrow today yesterday status "
    "tracking number still already ok great sure sorry problem issue damaged box label "
    "locker pickup warehouse week monday tuesday wednesday thursday friday saturday "
    "discount code promotion basket price pounds warranty manual charger headphones "
    "shoes jacket dress trousers bed chair table lamp bulb bedding towel soap shampoo "
    "cream perfume wrong fine lovely difference between available missing cancel change"
).split()
POLISH_WEIGHTS = list(accumulate(1 / rank for rank in range(1, len(POLISH) + 1)))
ENGLISH_WEIGHTS = list(accumulate(1 / rank for rank in range(1, len(ENGLISH) + 1)))

GREETINGS = {True: ["Dzień dobry", "Cześć", "Witam"], False: ["Hello", "Hi", "Good morning"]}
# The adviser's last line in most conversations: "dziękuję" and "order" in
# nearly every transcript, whatever its language.
CLOSING = "Dziękuję za kontakt! Thank you for contacting us about your order."
# Searched as written, so that the icontains baseline finds the same
# conversations (the indexed search would also find them typed without diacritics).
RARE_WORD, RARE_WORD_EVERY = "reklamację", 500
RAREST_WORD, RAREST_WORD_EVERY = "zażalenie", 50_000


def ascii_lower(text: str) -> str:
    return text.lower().translate(str.maketrans("ąćęłńóśźż", "acelnoszz"))


def customer_name(number: int) -> tuple[str, str]:
    first = FIRST_NAMES[number % len(FIRST_NAMES)]
    return first, LAST_NAMES[(number // len(FIRST_NAMES)) % len(LAST_NAMES)]


def customer_rows(count: int) -> Iterator[tuple[Any, ...]]:
    """Customers 1..count; emails such as ``anna.nowak2700@wp.pl``."""
    for number in range(1, count + 1):
        first, last = customer_name(number)
        alias = f"{ADJECTIVES[number % len(ADJECTIVES)]} {ANIMALS[number % len(ANIMALS)]}"
        email = f"{ascii_lower(first)}.{ascii_lower(last)}{number}@{DOMAINS[number % 7]}"
        phone = f"+48 5{number % 100:02d} {number % 1000:03d} {(number * 7) % 1000:03d}"
        yield (number, f"cust-{number:08d}", "", first, last, alias, email, phone, "{}", NOW, NOW)


def conversation_messages(rng: random.Random, *, polish: bool, lines: int) -> list[str]:
    """``lines`` message texts: a greeting first, everyday words, now and
    then an order number or a rare word, and (97 in 100) the sign-off last."""
    words, weights = (POLISH, POLISH_WEIGHTS) if polish else (ENGLISH, ENGLISH_WEIGHTS)
    texts = []
    for line in range(lines):
        drawn = rng.choices(words, cum_weights=weights, k=rng.randrange(3, 14))
        if line == 0:
            drawn.insert(0, rng.choice(GREETINGS[polish]) + ",")
        if rng.random() < 0.05:
            drawn.append(f"nr {rng.randrange(1_000_000, 9_999_999)}")
        if rng.randrange(RARE_WORD_EVERY) == 0:
            drawn.insert(rng.randrange(len(drawn)), RARE_WORD)
        if rng.randrange(RAREST_WORD_EVERY) == 0:
            drawn.insert(rng.randrange(len(drawn)), RAREST_WORD)
        texts.append(" ".join(drawn).capitalize() + ".")
    if rng.random() < 0.97:
        texts[-1] = CLOSING
    return texts
