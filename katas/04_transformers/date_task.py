"""Date normalisation, a generated sequence-to-sequence task where attention is the point: a date
written in one of several human styles goes in, character by character, and its ISO form comes out.

    "3rd of March 2011"   "03/03/11"   "March 3, 2011"   "Thursday, 3 March 2011"  ->  "2011-03-03"

Every output character is copied or looked up from one or two source characters whose position
depends on the style, so a decoder that can look back at the right place (cross-attention) solves
it, and one that only sees a summary of the source struggles.

Dates run from 1950-01-01 to 2049-12-31, so that a two-digit year is unambiguous (50-99 -> 19xx,
00-49 -> 20xx); numeric styles are day first (03/04/11 is the 3rd of April). `split_dates` holds
out dates that never appear in training: the held-out score measures generalisation to new dates,
not memory of seen ones.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import torch

from ml_refresher.vocab import Vocabulary

FIRST_DATE = dt.date(1950, 1, 1)
LAST_DATE = dt.date(2049, 12, 31)
TARGET_LENGTH = 10  # "YYYY-MM-DD"

MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def ordinal(day: int) -> str:
    """1 -> "1st", 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


# The source styles, by name. Each takes a date and writes it the way a person might.
STYLES = {
    "ordinal_of": lambda d: f"{ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "dd/mm/yy": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",
    "month_d_yyyy": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "d_mon_yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "weekday_d_month_yyyy": lambda d: (
        f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}"
    ),
    "dd.mm.yyyy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "mon_dth_yy": lambda d: f"{MONTHS[d.month - 1][:3]} {ordinal(d.day)} '{d.year % 100:02d}",
}


def format_date(date: dt.date, style: str) -> str:
    """The date written in one of STYLES, e.g. format_date(date(2011, 3, 3), "dd/mm/yy")
    -> "03/03/11"."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, got {style!r}")
    return STYLES[style](date)


def normalise(date: dt.date) -> str:
    """The target: ISO 8601, "2011-03-03"."""
    return date.isoformat()


def all_dates() -> list[dt.date]:
    """Every date from FIRST_DATE to LAST_DATE (36,525 of them), in order."""
    days = (LAST_DATE - FIRST_DATE).days + 1
    return [FIRST_DATE + dt.timedelta(days=i) for i in range(days)]


def split_dates(n_test: int = 1000, seed: int = 0) -> tuple[list[dt.date], list[dt.date]]:
    """(train_dates, test_dates): n_test dates drawn at random (fixed seed) are held out, the
    rest are for training. The two lists are disjoint and both sorted."""
    dates = all_dates()
    if not 0 < n_test < len(dates):
        raise ValueError(f"n_test must be between 1 and {len(dates) - 1}, got {n_test}")
    held_out = set(np.random.default_rng(seed).choice(len(dates), size=n_test, replace=False))
    train = [d for i, d in enumerate(dates) if i not in held_out]
    test = [d for i, d in enumerate(dates) if i in held_out]
    return train, test


def make_pairs(
    dates: list[dt.date], n: int | None, rng: np.random.Generator
) -> list[tuple[str, str]]:
    """(source, target) pairs, each a date from `dates` in a style drawn at random. With n=None,
    every date once, in order (an evaluation set); with n, n dates drawn with replacement."""
    if n is None:
        chosen = list(dates)
    else:
        chosen = [dates[i] for i in rng.integers(len(dates), size=n)]
    styles = list(STYLES)
    picks = rng.integers(len(styles), size=len(chosen))
    return [(format_date(d, styles[s]), normalise(d)) for d, s in zip(chosen, picks, strict=True)]


def char_vocabulary() -> Vocabulary:
    """One token per character any style can produce, after the specials; fixed, not learned
    from data, so the ids never depend on the split."""
    text = "".join(MONTHS + WEEKDAYS) + "0123456789 ,./-'" + "stndrdthof"
    return Vocabulary(sorted(set(text)))


def encode_pairs(
    pairs: list[tuple[str, str]], vocabulary: Vocabulary
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tensors for teacher forcing:
    src (B, S) int64 character ids padded with <pad>; src_mask (B, S) bool, True on real
    characters; tgt_in (B, 10) = <bos> + the first 9 target characters (what the decoder sees);
    tgt_out (B, 10) = the 10 target characters (what it must predict at each step)."""
    if not pairs:
        raise ValueError("pairs: need at least one (source, target) pair")
    longest = max(len(source) for source, _ in pairs)
    src = torch.full((len(pairs), longest), vocabulary.pad_id, dtype=torch.long)
    tgt_out = torch.empty((len(pairs), TARGET_LENGTH), dtype=torch.long)
    for i, (source, target) in enumerate(pairs):
        if len(target) != TARGET_LENGTH:
            raise ValueError(f"pairs: target {target!r} is not of the form YYYY-MM-DD")
        src[i, : len(source)] = torch.tensor(vocabulary.encode(list(source)))
        tgt_out[i] = torch.tensor(vocabulary.encode(list(target)))
    bos = torch.full((len(pairs), 1), vocabulary.bos_id, dtype=torch.long)
    tgt_in = torch.cat([bos, tgt_out[:, :-1]], dim=1)
    return src, src != vocabulary.pad_id, tgt_in, tgt_out
