#!/usr/bin/env python3
"""Generates the reference integration's sample data, reproducibly (fixed seed, no dependencies).

Writes, next to this script:
  data/sessions.csv        sessions, dated relative to the day the simulator runs (day_offset, local_time)
  data/holders.csv         one row per order and session: the ticket holder the SMS reminder targets
  data/accreditations.csv  people with their category, level, zones and sensitive fields
and ../data/samples/orders.jsonl: the ticketing orders the replay test and the load benchmark send.

Run: python3 flows/sim/generate.py   (the output is committed; rerunning gives the same files)
"""

import csv
import json
import random
import unicodedata
from pathlib import Path

SEED = 2024
SESSIONS = 300
ORDERS = 2000
ACCREDITATIONS = 2000

HERE = Path(__file__).resolve().parent
SPORTS = {
    "athletics": ["Stade de France"],
    "swimming": ["Paris La Défense Arena"],
    "fencing": ["Grand Palais"],
    "judo": ["Champ-de-Mars Arena"],
    "basketball": ["Bercy Arena", "Pierre Mauroy Stadium"],
    "football": ["Parc des Princes", "Stade de Marseille", "Stade de Lyon"],
    "cycling_track": ["Saint-Quentin-en-Yvelines Velodrome"],
    "rowing": ["Vaires-sur-Marne Nautical Stadium"],
    "table_tennis": ["South Paris Arena 4"],
    "volleyball": ["South Paris Arena 1"],
    "surfing": ["Teahupo'o"],
    "sailing": ["Marseille Marina"],
}
PHASES = ["heats", "qualification", "round of 16", "quarter-finals", "semi-finals", "final"]
FIRST = ["Camille", "Léa", "Louis", "Hugo", "Chloé", "Inès", "Jules", "Emma", "Lucas", "Manon", "Yasmine", "Noah",
         "Amelia", "Oliver", "Sofia", "Mateo", "Hana", "Kenji", "Aïcha", "Moussa", "Élodie", "Zoé"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent",
        "Lefèvre", "Garcia", "Müller", "Smith", "Tanaka", "Rossi", "Diallo", "Nguyen", "Kowalski", "O'Brien"]
COUNTRIES = [("FR", "fr", 0.70), ("GB", "en", 0.08), ("DE", "de", 0.06), ("US", "en", 0.06), ("ES", "es", 0.05),
             ("JP", "ja", 0.05)]
NOCS = ["FRA", "USA", "GBR", "JPN", "GER", "ITA", "ESP", "KEN", "BRA", "AUS", "CHN", "CAN", "SEN", "NED"]
CATEGORIES = [("athlete", 0.45), ("team_official", 0.15), ("technical_official", 0.1), ("media", 0.12),
              ("staff", 0.1), ("volunteer", 0.08)]
ZONES = ["1", "2", "3", "4", "5", "6", "7"]


def weighted(rng, items):
    r = rng.random()
    for item in items:
        r -= item[-1]
        if r <= 0:
            return item
    return items[-1]


def phone(rng, country):
    """Numbers as buyers type them: national formats, spaces, sometimes already E.164."""
    if country == "FR":
        digits = f"6{rng.randrange(10**8):08d}"
        style = rng.randrange(3)
        if style == 0:
            return "0" + " ".join([digits[0]] + [digits[i:i + 2] for i in range(1, 9, 2)])
        if style == 1:
            return "+33" + digits
        return "0" + digits
    if country == "GB":
        return f"+44 7{rng.randrange(10**9):09d}"
    if country == "DE":
        return f"+49 15{rng.randrange(10**8):08d}"
    if country == "US":
        return f"+1 202 555 {rng.randrange(10**4):04d}"
    if country == "ES":
        return f"+34 6{rng.randrange(10**8):08d}"
    return f"+81 90{rng.randrange(10**8):08d}"


def sessions(rng):
    rows = []
    for i in range(SESSIONS):
        sport = rng.choice(sorted(SPORTS))
        rows.append({
            "session_id": f"SES-{i + 1:04d}",
            "sport": sport,
            "event_name": f"{sport.replace('_', ' ').title()} {rng.choice(PHASES)}",
            "venue": rng.choice(SPORTS[sport]),
            # From two days ago to two weeks ahead, so that "tomorrow" always has sessions.
            "day_offset": rng.randrange(-2, 15),
            "local_time": f"{rng.choice([9, 10, 11, 14, 15, 17, 19, 20, 21]):02d}:{rng.choice(['00', '30']):s}:00",
            "capacity": rng.choice([40, 60, 80, 120]),
            "sold": 0,
            "gate": rng.choice(["A", "B", "C", "D", "E"]),
        })
    return rows


def orders(rng, session_rows):
    out, holders = [], []
    for i in range(ORDERS):
        country, language, _ = weighted(rng, COUNTRIES)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        order_id = f"ORD-{i + 1:06d}"
        tickets = []
        for t in range(rng.choice([1, 1, 2, 2, 3, 4])):
            session = rng.choice(session_rows)
            if session["sold"] >= session["capacity"]:
                continue
            session["sold"] += 1
            tickets.append({
                "ticket_id": f"TCK-{i + 1:06d}-{t + 1}",
                "session_id": session["session_id"],
                "category": rng.choice(["A", "B", "C", "D"]),
                "price": {"amount": rng.choice([24, 50, 85, 125, 210]), "currency": "EUR"},
            })
        if not tickets:
            session = min(session_rows, key=lambda s: s["sold"] / s["capacity"])
            session["sold"] += 1
            tickets.append({"ticket_id": f"TCK-{i + 1:06d}-1", "session_id": session["session_id"], "category": "D",
                            "price": {"amount": 24, "currency": "EUR"}})
        consents = {"marketing": rng.random() < 0.55, "sms": rng.random() < 0.7}
        # Ticketing validates e-mail addresses as ASCII, as most shops do.
        ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
        email_name = ascii_name.lower().replace("'", "").replace(" ", "")
        buyer = {"first_name": first, "last_name": last, "email": f"{email_name}{i}@example.org",
                 "phone": phone(rng, country), "country": country, "language": language}
        out.append({"order_id": order_id, "created_at": f"2024-07-{rng.randrange(1, 25):02d}T{rng.randrange(24):02d}:"
                    f"{rng.randrange(60):02d}:{rng.randrange(60):02d}Z", "buyer": buyer, "tickets": tickets,
                    "consents": consents})
        for session_id in sorted({t["session_id"] for t in tickets}):
            holders.append({"holder_id": f"{order_id}:{session_id}", "session_id": session_id, "order_id": order_id,
                            "first_name": first, "last_name": last, "phone": buyer["phone"], "country": country,
                            "language": language, "sms_consent": str(consents["sms"]).lower()})
    return out, holders


def accreditations(rng):
    rows = []
    for i in range(ACCREDITATIONS):
        category = weighted(rng, CATEGORIES)[0]
        level = {"athlete": 3, "team_official": 3, "technical_official": 4, "media": 2, "staff": 4,
                 "volunteer": 1}[category] + rng.choice([-1, 0, 0, 1])
        rows.append({
            "accreditation_id": f"ACC-{i + 1:04d}",
            "given_name": rng.choice(FIRST),
            "family_name": rng.choice(LAST),
            "date_of_birth": f"{rng.randrange(1960, 2008)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "nationality": rng.choice(NOCS),
            "passport_number": f"{rng.choice('PXKLM')}{rng.randrange(10**7):07d}",
            "visa_status": rng.choice(["not_required", "granted", "granted", "pending"]),
            "category": category,
            "organisation": f"NOC {rng.choice(NOCS)}" if category in ("athlete", "team_official") else "Paris 2024",
            "level": max(1, min(5, level)),
            "zones": "|".join(sorted(rng.sample(ZONES, rng.randrange(1, 5)))),
            "medical_notes": rng.choice(["", "", "asthma", "allergy: penicillin", "type 1 diabetes", "knee surgery 2023"]),
            "updated_at": f"2024-07-{rng.randrange(1, 25):02d}T08:00:00Z",
        })
    return rows


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main():
    rng = random.Random(SEED)
    session_rows = sessions(rng)
    order_rows, holder_rows = orders(rng, session_rows)
    accreditation_rows = accreditations(rng)
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    write_csv(data / "sessions.csv", session_rows)
    write_csv(data / "holders.csv", holder_rows)
    write_csv(data / "accreditations.csv", accreditation_rows)
    samples = HERE.parent / "data" / "samples"
    with open(samples / "orders.jsonl", "w", encoding="utf-8") as f:
        for order in order_rows:
            f.write(json.dumps(order, ensure_ascii=False) + "\n")
    print(f"{len(session_rows)} sessions, {len(order_rows)} orders, {len(holder_rows)} holders, "
          f"{len(accreditation_rows)} accreditations")


if __name__ == "__main__":
    main()
