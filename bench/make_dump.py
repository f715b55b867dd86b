"""Generate a realistic dump of Closer events for backfill tests and benchmarks.

    python bench/make_dump.py OUTPUT [--customers N] [--conversations N]
        [--messages 1-50] [--duplicates 0.05] [--shuffle] [--format ndjson|array|object]
        [--seed N]

OUTPUT is a file (``.gz`` compresses) or ``-`` for standard output.

Every customer has a run of conversations spaced days apart; each has a
``ThreadCreatedEvent`` and a ``ThreadClosedEvent`` with the whole transcript,
1-50 messages by default, written by the customer and a human adviser or a
bot (sometimes a bot handing over to a human), in Polish or English. The
quirks of DESIGN.md are in it: ``email``/``phone`` beside ``customer`` in
created events, created events missing, a created event timestamped days
after the transcript began (as in Closer's own example), conversations left
open, nulls, unknown fields and unknown event types.

An event is a pure function of (seed, customer, conversation, kind), so the
generator streams and shuffling only permutes small tuples: memory stays flat
whatever the size. Duplicates are exact re-deliveries, so sorted and shuffled
dumps of one seed describe the same archive.
"""

import argparse
import gzip
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

DAY_MS = 86_400_000
START_MS = 1_546_300_800_000  # 2019-01-01

FIRST_NAMES = [
    "Anna",
    "Jan",
    "Zofia",
    "Łukasz",
    "Małgorzata",
    "Paweł",
    "Agnieszka",
    "Grzegorz",
    "Emma",
    "Oliver",
    "Sophie",
    "James",
    "Ewa",
    "Michał",
    "Katarzyna",
    "Noah",
]
LAST_NAMES = [
    "Kowalska",
    "Nowak",
    "Wiśniewski",
    "Wójcik",
    "Kamińska",
    "Lewandowski",
    "Zieliński",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Szymańska",
    "Dąbrowski",
    "Wilson",
]
ALIASES = ["Frosty Wolf", "Quiet Otter", "Sunny Lynx", "Brave Heron", "Misty Fox", "Calm Bison"]
PAGES = [
    ("https://yourbusiness.com/", "Your business"),
    ("https://yourbusiness.com/cennik", "Cennik"),
    ("https://yourbusiness.com/pricing", "Pricing"),
    ("https://yourbusiness.com/kontakt", "Kontakt"),
    ("https://yourbusiness.com/help/returns", "Returns and refunds"),
]
BROWSERS = [("Firefox", "67"), ("Chrome", "120"), ("Safari", "17"), ("Edge", "119")]
SYSTEMS = ["Mac OS X 10.14", "Windows 10", "Android 14", "iOS 17", "Ubuntu"]
CLOSED_TYPES = ["solved"] * 8 + ["unsolved", "spam", "timeout", "abandoned"]

CUSTOMER_LINES = {
    "pl": [
        "Dzień dobry, mam pytanie o zamówienie nr {n}.",
        "Paczka nie dotarła, co mam zrobić?",
        "Czy mogę zmienić adres dostawy?",
        "Ile kosztuje wysyłka za granicę?",
        "Dziękuję za pomoc!",
        "Zapłaciłem, ale status się nie zmienił.",
        "Gdzie znajdę fakturę?",
        "Chciałabym zwrócić produkt, który przyszedł uszkodzony.",
        "Super, wszystko jasne.",
    ],
    "en": [
        "Hello, I have a question about order #{n}.",
        "My parcel hasn't arrived, what should I do?",
        "Can I change the delivery address?",
        "How much is shipping abroad?",
        "Thanks for your help!",
        "I paid but the status didn't change.",
        "Where is my invoice?",
        "I'd like to return an item that arrived damaged.",
        "Great, that's clear now.",
    ],
}
ADVISER_LINES = {
    "pl": [
        "Dzień dobry! W czym mogę pomóc?",
        "Już sprawdzam, proszę o chwilę cierpliwości.",
        "Zamówienie {n} zostało wysłane wczoraj.",
        "Faktura jest w zakładce Moje konto.",
        "Przekazuję rozmowę do konsultanta.",
        "Czy mogę pomóc w czymś jeszcze?",
        "Zwrot przyjęty, pieniądze wrócą w ciągu 14 dni.",
    ],
    "en": [
        "Hi! How can I help?",
        "Let me check that for you, one moment please.",
        "Order {n} was shipped yesterday.",
        "The invoice is under My account.",
        "I'm handing you over to a colleague.",
        "Is there anything else I can help with?",
        "Return accepted, the refund takes up to 14 days.",
    ],
}


@dataclass(frozen=True)
class DumpShape:
    customers: int = 100
    conversations: int = 5  # closed conversations per customer
    min_messages: int = 1
    max_messages: int = 50
    created_missing: float = 0.03  # closed conversations whose created event is lost
    open_rate: float = 0.1  # customers with one more conversation still open
    late_created: float = 0.05  # created event stamped days after the transcript began
    unknown_events: float = 0.005  # extra events of a type we do not archive
    duplicates: float = 0.0  # fraction of events delivered twice
    shuffle: bool = False
    seed: int = 1


def _rng(shape: DumpShape, *parts: int) -> random.Random:
    return random.Random(hash((shape.seed, *parts)) & 0xFFFFFFFF)


def _uuid(rng: random.Random) -> str:
    return "%08x-%04x-4%03x-%04x-%012x" % (  # noqa: UP031
        rng.getrandbits(32),
        rng.getrandbits(16),
        rng.getrandbits(12),
        0x8000 | rng.getrandbits(14),
        rng.getrandbits(48),
    )


ADVISERS = [
    {
        "id": _uuid(random.Random(i)),
        "firstName": random.Random(i).choice(FIRST_NAMES),
        "lastName": random.Random(i + 100).choice(LAST_NAMES),
        "email": f"agent{i}@closer.app",
        "isBot": False,
    }
    for i in range(20)
] + [
    {
        "id": _uuid(random.Random(1000 + i)),
        "firstName": name,
        "lastName": None,
        "email": None,
        "isBot": True,
    }
    for i, name in enumerate(["Closer Bot", "Asystent", "FAQ Bot"])
]


def _customer(shape: DumpShape, customer: int) -> dict[str, Any]:
    rng = _rng(shape, customer)
    anonymous = rng.random() < 0.3
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {
        "id": _uuid(rng),
        "apiKey": "5b7c3d1e-0000-4000-8000-00000000a11e",
        "firstName": None if anonymous else first,
        "lastName": None if anonymous else last,
        "randomName": rng.choice(ALIASES),
        "email": None if anonymous else f"{first}.{last}{customer}@example.com".lower(),
        "phone": None
        if anonymous or rng.random() < 0.5
        else f"+48{rng.randint(500000000, 899999999)}",
        "language": "pl" if rng.random() < 0.6 else "en",
        "start_ms": START_MS + rng.randrange(0, 4 * 365 * DAY_MS),
    }


@dataclass(frozen=True)
class ConversationPlan:
    created_ms: int | None
    closed_ms: int | None
    first_message_ms: int


def _plans(shape: DumpShape, customer: int, start_ms: int) -> list[ConversationPlan]:
    rng = _rng(shape, customer, -1)
    plans = []
    at = start_ms
    extra_open = 1 if rng.random() < shape.open_rate else 0
    for number in range(shape.conversations + extra_open):
        at += rng.randrange(5 * DAY_MS, 60 * DAY_MS)  # gaps keep conversations apart
        first_message = at + rng.randrange(1_000, 60_000)
        if number == shape.conversations:  # the extra, still open one
            plans.append(ConversationPlan(at, None, first_message))
            continue
        created: int | None = at
        if rng.random() < shape.late_created:
            created = first_message + rng.randrange(DAY_MS, 4 * DAY_MS)
        if rng.random() < shape.created_missing:
            created = None
        closed = max(first_message, created or 0) + rng.randrange(DAY_MS // 2, DAY_MS)
        plans.append(ConversationPlan(created, closed, first_message))
        at = closed
    return plans


def _messages(
    shape: DumpShape, customer: dict[str, Any], plan: ConversationPlan, rng: random.Random
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    count = rng.randint(shape.min_messages, shape.max_messages)
    language = customer["language"]
    bot = rng.random() < 0.4
    human = rng.choice(ADVISERS[:20])
    adviser = rng.choice(ADVISERS[20:]) if bot else human
    handover = bot and rng.random() < 0.5
    history = []
    at = plan.first_message_ms
    customer_author = {
        "id": customer["id"],
        "role": "CUSTOMER",
        "email": customer["email"],
        "phone": customer["phone"],
    }
    for index in range(count):
        if handover and index == count // 2:
            adviser = human
        from_customer = index % 2 == 0 or rng.random() < 0.2
        if from_customer:
            author = customer_author
            line = rng.choice(CUSTOMER_LINES[language])
        else:
            author = {
                "id": adviser["id"],
                "role": "ADVISER",
                "email": adviser["email"],
                "phone": None,
            }
            line = rng.choice(ADVISER_LINES[language])
        history.append(
            {"author": author, "message": line.format(n=rng.randint(1000, 99999)), "timestamp": at}
        )
        at += rng.randrange(2_000, 120_000)
    return history, adviser


def _visitor(customer: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    page, title = rng.choice(PAGES)
    browser, version = rng.choice(BROWSERS)
    return [
        {"key": "currentPage", "value": page},
        {"key": "currentPageTitle", "value": title},
        {"key": "screenSize", "value": rng.choice(["1080x1920", "1920x1080", "390x844"])},
        {"key": "browserName", "value": browser},
        {"key": "browserVersion", "value": version},
        {"key": "operatingSystem", "value": rng.choice(SYSTEMS)},
    ]


def _customer_payload(customer: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    return {
        key: customer[key]
        for key in ("id", "apiKey", "firstName", "lastName", "randomName", "email", "phone")
    } | {"backOfficeData": _visitor(customer, rng)}


def event(shape: DumpShape, customer_index: int, conversation: int, kind: str) -> dict[str, Any]:
    """One event, a pure function of its coordinates (so order never matters)."""
    customer = _customer(shape, customer_index)
    plan = _plans(shape, customer_index, customer["start_ms"])[conversation]
    rng = _rng(shape, customer_index, conversation)
    payload_customer = _customer_payload(customer, rng)
    if kind == "unknown":
        return {
            "eventType": "ThreadTransferredEvent",
            "customer": {"id": customer["id"]},
            "timestamp": plan.first_message_ms + 5_000,
        }
    if kind == "created":
        payload: dict[str, Any] = {
            "customer": payload_customer,
            "timestamp": plan.created_ms,
            "eventType": "ThreadCreatedEvent",
        }
        if rng.random() < 0.5:  # Closer's documented quirk: beside, not inside
            payload["email"] = payload_customer.pop("email")
            payload["phone"] = payload_customer.pop("phone")
        if rng.random() < 0.1:
            payload["widgetVersion"] = "2.14.1"  # unknown fields are kept, not errors
        return payload
    history, adviser = _messages(shape, customer, plan, rng)
    return {
        "customer": payload_customer,
        "timestamp": plan.closed_ms,
        "closedType": rng.choice(CLOSED_TYPES),
        "assignee": adviser,
        "messageHistory": history,
        "eventType": "ThreadClosedEvent",
    }


def event_coordinates(shape: DumpShape) -> list[tuple[int, int, str]]:
    """Which events the dump holds, in customer and time order."""
    coordinates = []
    for customer_index in range(shape.customers):
        customer = _customer(shape, customer_index)
        for number, plan in enumerate(_plans(shape, customer_index, customer["start_ms"])):
            if plan.created_ms is not None:
                coordinates.append((customer_index, number, "created"))
            if plan.closed_ms is not None:
                coordinates.append((customer_index, number, "closed"))
            if _rng(shape, customer_index, number, 7).random() < shape.unknown_events:
                coordinates.append((customer_index, number, "unknown"))
    rng = _rng(shape, -2)
    if shape.duplicates:
        coordinates += rng.sample(coordinates, int(len(coordinates) * shape.duplicates))
    if shape.shuffle:
        rng.shuffle(coordinates)
    return coordinates


def events(shape: DumpShape) -> Iterator[dict[str, Any]]:
    for customer_index, conversation, kind in event_coordinates(shape):
        yield event(shape, customer_index, conversation, kind)


def write_dump(shape: DumpShape, out: IO[str], dump_format: str = "ndjson") -> int:
    """Write the dump; return the number of messages in it."""
    messages = 0
    opening, separator, closing = {
        "ndjson": ("", "\n", "\n"),
        "array": ("[\n", ",\n", "\n]\n"),
        "object": ('{"exportedBy": "make_dump", "events": [\n', ",\n", "\n]}\n"),
    }[dump_format]
    out.write(opening)
    for number, payload in enumerate(events(shape)):
        if number:
            out.write(separator)
        out.write(json.dumps(payload, ensure_ascii=False))
        messages += len(payload.get("messageHistory") or ())
    out.write(closing)
    return messages


def _parse_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="file to write (.gz compresses), or - for stdout")
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--conversations", type=int, default=5, help="closed per customer")
    parser.add_argument("--messages", default="1-50", help="per conversation: N or LOW-HIGH")
    parser.add_argument("--created-missing", type=float, default=0.03)
    parser.add_argument("--open-rate", type=float, default=0.1)
    parser.add_argument("--unknown-events", type=float, default=0.005)
    parser.add_argument("--duplicates", type=float, default=0.0)
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--format", choices=["ndjson", "array", "object"], default="ndjson")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    low, high = _parse_range(args.messages)
    shape = DumpShape(
        customers=args.customers,
        conversations=args.conversations,
        min_messages=low,
        max_messages=high,
        created_missing=args.created_missing,
        open_rate=args.open_rate,
        unknown_events=args.unknown_events,
        duplicates=args.duplicates,
        shuffle=args.shuffle,
        seed=args.seed,
    )
    if args.output == "-":
        messages = write_dump(shape, sys.stdout, args.format)
    elif args.output.endswith(".gz"):
        with gzip.open(args.output, "wt", encoding="utf-8", compresslevel=1) as out:
            messages = write_dump(shape, out, args.format)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            messages = write_dump(shape, out, args.format)
    print(f"wrote {args.output}: {messages} messages", file=sys.stderr)


if __name__ == "__main__":
    main()
