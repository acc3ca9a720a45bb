"""A synthetic slot-filling corpus: the flight-booking example of Hung-yi Lee's RNN lecture.

Sentences such as "arrive taipei on november 2nd" are tagged word by word in the BIO scheme with
three slots — ``dest`` (where the traveller goes), ``depart`` (where they leave from) and ``time``::

    arrive  taipei  on  november  2nd
    O       B-dest  O   B-time    I-time

The lecture's point is that a city's slot depends on its context: "arrive taipei" makes Taipei the
destination, "leave taipei" the place of departure, so a tagger must remember the words before it.

Sentences come from templates whose placeholders are filled with cities (multi-word ones such as
"new york" too) and time expressions ("november 2nd", "the 3rd of may", "friday", "tomorrow" …).
The train and test splits use disjoint templates, so every test sentence is a phrasing never seen
in training, filled with the same kinds of entities. Generation is deterministic for a seed.

Words are lower case. :func:`default_vocabulary` holds every word the training templates and the
entity lists can produce, with ``<pad>`` at index 0 and ``<unk>`` (a word only a test template
uses) at 1. :class:`SlotFilling` pads token ids with 0 and tag ids with :data:`IGNORE_INDEX`, so
``F.cross_entropy(..., ignore_index=IGNORE_INDEX)`` skips padding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ..dataset import Dataset, _index_array, _tc

__all__ = ["SlotFilling", "Sentence", "Vocabulary", "TAGS", "SLOT_TYPES", "IGNORE_INDEX", "TRAIN_TEMPLATES",
           "TEST_TEMPLATES", "generate_sentences", "default_vocabulary", "bio_spans", "slot_f1",
           "token_accuracy"]

#: The slot types, and the BIO tags over them (``TAGS[i]`` is tag id ``i``).
SLOT_TYPES: tuple[str, ...] = ("dest", "depart", "time")
TAGS: tuple[str, ...] = ("O",) + tuple(f"{p}-{s}" for s in SLOT_TYPES for p in ("B", "I"))
#: Tag id of padding positions, skipped by the loss (PyTorch's default ``ignore_index``).
IGNORE_INDEX = -100

CITIES: tuple[str, ...] = (
    "taipei", "kaohsiung", "taichung", "tainan", "tokyo", "osaka", "seoul", "paris", "london", "berlin",
    "boston", "chicago", "seattle", "sydney", "singapore", "new york", "los angeles", "san francisco",
    "hong kong", "kuala lumpur", "las vegas", "new delhi", "salt lake city", "rio de janeiro",
)
MONTHS: tuple[str, ...] = ("january", "february", "march", "april", "may", "june", "july", "august",
                           "september", "october", "november", "december")
WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Time expressions used without a preposition ("leave taipei tomorrow").
RELATIVE_TIMES: tuple[str, ...] = ("today", "tonight", "tomorrow", "tomorrow morning", "the day after tomorrow",
                                   "next week", "this weekend", "next friday")

#: Training phrasings; ``{dest}``, ``{depart}`` and ``{time}`` are the slots ({time} brings its own "on").
TRAIN_TEMPLATES: tuple[str, ...] = (
    "arrive {dest} {time}",
    "arrive in {dest} {time}",
    "leave {depart} {time}",
    "i want to fly to {dest} {time}",
    "i want to fly from {depart} to {dest} {time}",
    "book a flight from {depart} to {dest} {time}",
    "show me flights to {dest} {time}",
    "i need to leave {depart} {time}",
    "i would like to arrive in {dest} {time}",
    "{time} i want to leave {depart}",
    "find a flight leaving {depart} {time}",
    "please get me to {dest} {time}",
    "i am departing from {depart} {time}",
    "a ticket to {dest} please",
    "flights from {depart} {time}",
    "i will travel from {depart} to {dest}",
    "going to {dest} {time}",
    "{time} i need a flight to {dest}",
    "fly to {dest} from {depart} {time}",
    "i want to leave {depart} and fly to {dest}",
)
#: Test phrasings: the training cue words in new arrangements (a word they alone use is ``<unk>``).
TEST_TEMPLATES: tuple[str, ...] = (
    "i want to arrive in {dest} {time}",
    "{time} i want to fly to {dest}",
    "i would like to leave {depart} and arrive in {dest} {time}",
    "show me a flight leaving {depart} {time}",
    "book a ticket to {dest} from {depart}",
    "i need to fly from {depart} {time}",
    "please get me a flight from {depart} to {dest}",
)

_ORDINAL_SUFFIX = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def _ordinal(day: int) -> str:
    return f"{day}{_ORDINAL_SUFFIX.get(day, 'th')}"


@dataclass(frozen=True)
class Sentence:
    """One tagged sentence: ``tokens[i]`` has tag ``tags[i]``; ``template`` is the phrasing it came from."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    template: str

    def __str__(self) -> str:
        return " ".join(f"{w}/{t}" for w, t in zip(self.tokens, self.tags))


def _span(words: str, slot: str) -> list[tuple[str, str]]:
    tokens = words.split()
    return [(w, ("B-" if i == 0 else "I-") + slot) for i, w in enumerate(tokens)]


def _time(rng: np.random.Generator) -> list[tuple[str, str]]:
    """A time expression with its tags: a date after an untagged "on", or a relative time."""
    kind = rng.integers(5)
    if kind == 4:
        return _span(RELATIVE_TIMES[rng.integers(len(RELATIVE_TIMES))], "time")
    month = MONTHS[rng.integers(12)]
    day = int(rng.integers(1, 29))
    date = (f"{month} {_ordinal(day)}", f"the {_ordinal(day)} of {month}", f"{month} {day}",
            WEEKDAYS[rng.integers(7)])[kind]
    return [("on", "O")] + _span(date, "time")


def _fill(template: str, rng: np.random.Generator) -> Sentence:
    pairs: list[tuple[str, str]] = []
    cities = list(rng.permutation(len(CITIES))[:2])  # dest and depart are different cities
    for word in template.split():
        if word == "{time}":
            pairs += _time(rng)
        elif word in ("{dest}", "{depart}"):
            pairs += _span(CITIES[cities.pop()], word[1:-1])
        else:
            pairs.append((word, "O"))
    tokens, tags = zip(*pairs)
    return Sentence(tokens, tags, template)


def generate_sentences(n: int, train: bool = True, seed: int = 0) -> list[Sentence]:
    """``n`` sentences from the train (or test) templates, templates drawn uniformly; the same
    ``seed`` always gives the same sentences, and the two splits draw from independent streams."""
    if n < 0:
        raise ValueError(f"generate_sentences: n must be >= 0, got {n}")
    templates = TRAIN_TEMPLATES if train else TEST_TEMPLATES
    rng = np.random.default_rng([seed, 0 if train else 1])
    return [_fill(templates[rng.integers(len(templates))], rng) for _ in range(n)]


class Vocabulary:
    """Word ↔ id: ``<pad>`` is 0, ``<unk>`` 1, then the given words in sorted order (deterministic)."""

    PAD = "<pad>"
    UNK = "<unk>"

    def __init__(self, words: Iterable[str]) -> None:
        self.itos: list[str] = [self.PAD, self.UNK] + sorted(set(words) - {self.PAD, self.UNK})
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; unknown words become the ``<unk>`` id."""
        unk = self.stoi[self.UNK]
        return [self.stoi.get(w, unk) for w in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of ``ids``."""
        return [self.itos[int(i)] for i in ids]

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words)"


def default_vocabulary() -> Vocabulary:
    """Every word the training templates and the entity lists can produce."""
    words = {w for t in TRAIN_TEMPLATES for w in t.split() if not w.startswith("{")}
    words |= {w for phrase in CITIES + RELATIVE_TIMES for w in phrase.split()}
    words |= set(MONTHS) | set(WEEKDAYS) | {"on", "the", "of"}
    words |= {str(d) for d in range(1, 32)} | {_ordinal(d) for d in range(1, 32)}
    return Vocabulary(words)


class SlotFilling(Dataset):
    """The slot-filling corpus as padded id arrays, ready for a ``DataLoader``.

    Args:
        train: sentences from the training templates if True, else from the test templates.
        size: number of sentences (default 3000 for train, 1000 for test).
        seed: generation seed (:func:`generate_sentences`).
        vocab: word ids; by default :func:`default_vocabulary`.
        max_len: padded length; by default the longest sentence. Longer sentences raise.

    Attributes: ``sentences`` (:class:`Sentence` list), ``vocab``, ``tags`` (= :data:`TAGS`),
    ``token_ids`` int64 (N, max_len) padded with 0, ``tag_ids`` int64 (N, max_len) padded with
    :data:`IGNORE_INDEX`, ``lengths`` int64 (N,). ``ds[i]`` is ``(token ids, tag ids)`` as int64
    tensors of shape ``(max_len,)``; the DataLoader fast path applies.
    """

    tags = TAGS

    def __init__(self, train: bool = True, size: int | None = None, seed: int = 0, vocab: Vocabulary | None = None,
                 max_len: int | None = None) -> None:
        self.train = bool(train)
        size = (3000 if train else 1000) if size is None else size
        self.sentences = generate_sentences(size, train, seed)
        self.vocab = vocab if vocab is not None else default_vocabulary()
        self.lengths = np.array([len(s.tokens) for s in self.sentences], dtype=np.int64)
        longest = int(self.lengths.max()) if size else 0
        if max_len is None:
            max_len = longest
        elif max_len < longest:
            raise ValueError(f"SlotFilling: max_len {max_len} is shorter than the longest sentence ({longest} words)")
        self.token_ids = np.zeros((size, max_len), dtype=np.int64)
        self.tag_ids = np.full((size, max_len), IGNORE_INDEX, dtype=np.int64)
        tag_index = {t: i for i, t in enumerate(TAGS)}
        for row, s in enumerate(self.sentences):
            self.token_ids[row, :len(s.tokens)] = self.vocab.encode(s.tokens)
            self.tag_ids[row, :len(s.tags)] = [tag_index[t] for t in s.tags]

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"SlotFilling indices must be integers, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"SlotFilling index {index} is out of range for length {len(self)}")
        tc = _tc()
        return tc.from_numpy(self.token_ids[index].copy()), tc.from_numpy(self.tag_ids[index].copy())

    def get_batch(self, indices: Any) -> list:
        """``[token ids, tag ids]`` for ``indices``, int64 ``(B, max_len)`` each."""
        idx = _index_array(indices, len(self), "SlotFilling.get_batch")
        tc = _tc()
        return [tc.from_numpy(self.token_ids[idx]), tc.from_numpy(self.tag_ids[idx])]

    def decode_tags(self, tag_ids: Any) -> list[list[str]]:
        """Tag strings of an ``(N, max_len)`` array of predicted tag ids, each row cut to its
        sentence's length (row ``i`` belongs to ``sentences[i]``)."""
        ids = np.asarray(tag_ids)
        if ids.shape[0] != len(self):
            raise ValueError(f"SlotFilling.decode_tags: expected {len(self)} rows, got shape {ids.shape}")
        return [[TAGS[int(t)] for t in row[:n]] for row, n in zip(ids, self.lengths)]

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"SlotFilling(split={split!r}, {len(self)} sentences, max_len={self.token_ids.shape[1]}, {self.vocab!r})"


def bio_spans(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """The slots of one tag sequence as ``(type, start, end)`` with ``end`` exclusive.

    A span starts at ``B-x``, or at an ``I-x`` that does not continue a span of type ``x`` (the
    conlleval convention), and runs over the ``I-x`` tags that follow.
    """
    spans = set()
    kind, start = None, 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, slot = tag.partition("-")
        if kind is not None and not (prefix == "I" and slot == kind):
            spans.add((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and kind is None):
            kind, start = slot, i
    return spans


def slot_f1(pred_tags: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]]) -> float:
    """Micro-averaged F1 of exact slot matches: a predicted span counts only if its type, start and
    end all equal a gold span's. ``2·tp / (predicted + gold)``; 1.0 when neither has any span."""
    if len(pred_tags) != len(gold_tags):
        raise ValueError(f"slot_f1: {len(pred_tags)} predicted sequences but {len(gold_tags)} gold ones")
    tp = n_pred = n_gold = 0
    for i, (pred, gold) in enumerate(zip(pred_tags, gold_tags)):
        if len(pred) != len(gold):
            raise ValueError(f"slot_f1: sequence {i} has {len(pred)} predicted tags but {len(gold)} gold tags")
        p, g = bio_spans(pred), bio_spans(gold)
        tp += len(p & g)
        n_pred += len(p)
        n_gold += len(g)
    return 1.0 if n_pred + n_gold == 0 else 2 * tp / (n_pred + n_gold)


def token_accuracy(pred_tags: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]]) -> float:
    """Share of tokens whose predicted tag equals the gold tag."""
    if len(pred_tags) != len(gold_tags) or any(len(p) != len(g) for p, g in zip(pred_tags, gold_tags)):
        raise ValueError("token_accuracy: predicted and gold tag sequences must have the same lengths")
    total = sum(len(g) for g in gold_tags)
    if total == 0:
        raise ValueError("token_accuracy: no tokens to score")
    return sum(p == g for ps, gs in zip(pred_tags, gold_tags) for p, g in zip(ps, gs)) / total
