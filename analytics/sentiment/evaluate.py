"""How well does the sentiment scorer agree with people? Score a labelled sample.

Reads a user's own labelled texts (CSV or TSV with a header, or the headerless
`id<TAB>rating<TAB>text` files of Hutto & Gilbert's VADER ground truth),
scores them with the same scorer `listener analyze` uses, and reports:

* numeric ratings (any scale): Pearson r between rating and compound, and the
  ratings mapped to classes: the scale is the observed range widened to whole
  numbers (-3.9..3.9 -> -4..4, 1..5 stars stays 1..5); with midpoint m and
  half-range h, a rating above m + 0.05 h is positive, below m - 0.05 h
  negative, else neutral (VADER's own +-0.05 band on its -1..1 compound,
  carried over to the rating scale);
* categorical labels: positive/neutral/negative, pos/neu/neg or 1/0/-1
  (case-insensitive);
* accuracy, macro-F1 (mean F1 of the three classes) and the confusion matrix
  (rows: label, columns: VADER's label at compound +-0.05).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analytics.sentiment.vader import label_for, score_texts

CLASSES = ("negative", "neutral", "positive")
CATEGORY = {"negative": 0, "neg": 0, "-1": 0, "neutral": 1, "neu": 1, "0": 1, "positive": 2, "pos": 2, "1": 2, "+1": 2}
TEXT_COLUMNS = ("text", "sentence", "content", "body", "review", "tweet")
LABEL_COLUMNS = ("label", "rating", "sentiment", "score", "class", "polarity")
NEUTRAL_BAND = 0.05  # share of the half-range around the midpoint that is neutral
GROUND_TRUTH_COLUMNS = ("id", "rating", "text")


class SampleError(Exception):
    """The file or a named column is missing (a usage error)."""


@dataclass
class Sample:
    """Usable rows and the rejected ones (line number, reason)."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    layout: str = "csv"
    text_column: str = ""
    label_column: str = ""


def read_sample(path: Path, text_column: str | None = None, label_column: str | None = None) -> Sample:
    """Read a labelled file; bad rows go to `errors` with their line numbers."""
    if not path.is_file():
        raise SampleError(f"{path}: no such file")
    raw = path.read_bytes().decode("utf-8-sig", errors="replace")
    lines = raw.splitlines()
    if _is_ground_truth(lines):
        return _read_ground_truth(lines, text_column, label_column)
    delimiter = _delimiter(path, raw)
    reader = csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise SampleError(f"{path}: empty file (expected a header row)")
    names = [h.strip() for h in header]
    text_at = _column(names, text_column, TEXT_COLUMNS, "text", path)
    label_at = _column(names, label_column, LABEL_COLUMNS, "label", path)
    sample = Sample(
        layout="tsv" if delimiter == "\t" else "csv", text_column=names[text_at], label_column=names[label_at]
    )
    for row in reader:
        line = reader.line_num  # physical line where the row ends (quoted newlines count)
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            sample.errors.append((line, f"expected {len(names)} fields, found {len(row)}"))
            continue
        _add(sample, line, row[text_at], row[label_at])
    return sample


def _is_ground_truth(lines: list[str]) -> bool:
    """Headerless `id<TAB>rating<TAB>text`: the first line's second field is a number."""
    parts = lines[0].split("\t") if lines else []
    return len(parts) >= 3 and _number(parts[1]) is not None


def _read_ground_truth(lines: list[str], text_column: str | None, label_column: str | None) -> Sample:
    for given, want in ((text_column, "text"), (label_column, "rating")):
        if given not in (None, want):
            raise SampleError(
                f"column {given!r} not found: headerless id<TAB>rating<TAB>text files have "
                f"columns {', '.join(GROUND_TRUTH_COLUMNS)}"
            )
    sample = Sample(layout="ground-truth", text_column="text", label_column="rating")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) < 3:
            sample.errors.append((number, "expected id<TAB>rating<TAB>text"))
            continue
        _add(sample, number, parts[2], parts[1])
    return sample


def _delimiter(path: Path, raw: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    try:
        return csv.Sniffer().sniff(raw[: 64 * 1024], delimiters=",\t;|").delimiter
    except csv.Error:
        return "\t" if "\t" in raw.partition("\n")[0] else ","


def _column(names: list[str], wanted: str | None, guesses: tuple[str, ...], role: str, path: Path) -> int:
    lowered = [n.lower() for n in names]
    if wanted is not None:
        if wanted.lower() in lowered:
            return lowered.index(wanted.lower())
        raise SampleError(f"{path}: no column {wanted!r} (columns: {', '.join(names)})")
    for guess in guesses:
        if guess in lowered:
            return lowered.index(guess)
    raise SampleError(f"{path}: no {role} column found among {', '.join(names)}; name it with --{role}-column")


def _add(sample: Sample, line: int, text: str, label: str) -> None:
    if not text.strip():
        sample.errors.append((line, "empty text"))
    elif not label.strip():
        sample.errors.append((line, "empty label"))
    else:
        sample.texts.append(text)
        sample.labels.append(label.strip())
        sample.lines.append(line)


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def classify_labels(sample: Sample) -> tuple[np.ndarray, np.ndarray | None, tuple[float, float] | None]:
    """Turn labels into class indexes (0 neg, 1 neu, 2 pos); numeric ratings also come back as floats.

    Numeric mode when any label is a number other than -1, 0, 1. Rows whose
    label fits neither mode move to `sample.errors`.
    """
    numbers = [_number(label) for label in sample.labels]
    numeric = any(n is not None and n not in (-1.0, 0.0, 1.0) for n in numbers)
    keep: list[int] = []
    for i, (label, number) in enumerate(zip(sample.labels, numbers)):
        if numeric and number is None:
            sample.errors.append((sample.lines[i], f"label {label!r} is not a number (the column holds ratings)"))
        elif not numeric and label.lower() not in CATEGORY:
            sample.errors.append(
                (sample.lines[i], f"label {label!r} is not positive/neutral/negative, pos/neu/neg, 1/0/-1 or a number")
            )
        else:
            keep.append(i)
    for attr in ("texts", "labels", "lines"):
        setattr(sample, attr, [getattr(sample, attr)[i] for i in keep])
    sample.errors.sort()
    if not numeric:
        return np.array([CATEGORY[label.lower()] for label in sample.labels], dtype=np.int64), None, None
    ratings = np.array([numbers[i] for i in keep], dtype=np.float64)
    if not len(ratings):
        return np.zeros(0, dtype=np.int64), ratings, None
    scale = (float(math.floor(ratings.min())), float(math.ceil(ratings.max())))
    return ratings_to_classes(ratings, scale), ratings, scale


def ratings_to_classes(ratings: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    low, high = scale
    mid, half = (low + high) / 2, (high - low) / 2
    band = NEUTRAL_BAND * half
    return np.where(ratings > mid + band, 2, np.where(ratings < mid - band, 0, 1)).astype(np.int64)


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def class_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    matrix = np.zeros((3, 3), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    per_class = {}
    f1s = []
    for k, name in enumerate(CLASSES):
        tp, support, guessed = matrix[k, k], matrix[k].sum(), matrix[:, k].sum()
        if not support and not guessed:
            continue  # a class absent from both sides says nothing either way
        precision = tp / guessed if guessed else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(support),
        }
    total = int(matrix.sum())
    return {
        "accuracy": round(float(np.trace(matrix) / total), 4) if total else None,
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else None,
        "per_class": per_class,
        "confusion": matrix.tolist(),
    }


def evaluate(sample: Sample, lexicon: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Score the sample and compare; `sample.errors` gains rows with unusable labels."""
    truth, ratings, scale = classify_labels(sample)
    scores = score_texts(sample.texts, workers=1, lexicon=lexicon)
    compound = np.array([s[0] for s in scores], dtype=np.float64)
    predicted = np.array([CLASSES.index(label_for(c)) for c in compound], dtype=np.int64)
    result: dict[str, Any] = {
        "rows": len(sample.texts),
        "rejected": len(sample.errors),
        "labels": "numeric" if ratings is not None else "categorical",
        "scale": list(scale) if scale else None,
        "pearson_r": round(r, 4) if ratings is not None and (r := pearson(ratings, compound)) is not None else None,
    }
    result.update(
        class_metrics(truth, predicted)
        if len(truth)
        else {"accuracy": None, "macro_f1": None, "per_class": {}, "confusion": []}
    )
    return result


def report_lines(result: Mapping[str, Any]) -> list[str]:
    """Human-readable summary, confusion matrix included."""
    lines = [
        f"rows: {result['rows']} scored, {result['rejected']} rejected; labels: {result['labels']}"
        + (f" on scale {result['scale'][0]:g}..{result['scale'][1]:g}" if result.get("scale") else "")
    ]
    if result["labels"] == "numeric":
        r = result["pearson_r"]
        lines.append(f"Pearson r (rating vs compound): {r:.3f}" if r is not None else "Pearson r: n/a")
    if result["accuracy"] is not None:
        lines.append(f"accuracy: {result['accuracy']:.3f}")
        lines.append(f"macro-F1: {result['macro_f1']:.3f}")
        lines.append("confusion (rows: label, columns: predicted):")
        lines.append(f"  {'':<10}" + "".join(f"{name:>10}" for name in CLASSES))
        for name, row in zip(CLASSES, result["confusion"]):
            lines.append(f"  {name:<10}" + "".join(f"{n:>10}" for n in row))
    return lines
