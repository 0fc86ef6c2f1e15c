"""Classification metrics (numpy only), their text table, the confusion-matrix PNG, and curves.

Confusion matrix: rows are the true class, columns the predicted class, in label order.
For two classes the second label (sorted: 1, "pos", ...) is the positive class:
TPR = recall of the positive class, TNR = recall of the negative class.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, classes: list,
                           seconds: float | None = None) -> dict:
    y_true = np.asarray(y_true, np.int64)
    probabilities = np.asarray(probabilities, np.float64)
    k = len(classes)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (y_true, predicted), 1)
    tp = np.diag(confusion).astype(np.float64)
    precision = _ratio(tp, confusion.sum(axis=0))
    recall = _ratio(tp, confusion.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    n = len(y_true)
    picked = probabilities[np.arange(n), y_true]
    result = {
        "examples": int(n),
        "accuracy": float(tp.sum() / max(n, 1)),
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0)))) if n else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class": [{"label": label, "precision": float(p), "recall": float(r), "f1": float(f),
                       "support": int(s)}
                      for label, p, r, f, s in zip(classes, precision, recall, f1,
                                                   confusion.sum(axis=1))],
        "labels": list(classes),
        "confusion": confusion.tolist(),
    }
    if k == 2:
        pos = _positive_index(classes)
        result.update(positive_label=classes[pos], tpr=float(recall[pos]),
                      tnr=float(recall[1 - pos]))
    if seconds is not None:
        result["ms_per_sample"] = 1000.0 * seconds / max(n, 1)
    return result


# Text labels that name the positive (or the negative) class of a binary task; "긍정" and
# "부정" are Korean sentiment labels, which sort the other way round.
POSITIVE_NAMES = {"true", "yes", "pos", "positive", "긍정"}
NEGATIVE_NAMES = {"false", "no", "neg", "negative", "부정"}


def _positive_index(classes: list) -> int:
    """Which of two classes (sorted) TPR is reported for: of numbers, the larger (1 of 0/1,
    2 of Yelp's and Amazon's 1/2); of text, the one named positive (or beside one named
    negative), else the second."""
    if any(isinstance(c, str) for c in classes):
        names = [str(c).strip().lower() for c in classes]
        for i in (0, 1):
            if names[i] in POSITIVE_NAMES or names[1 - i] in NEGATIVE_NAMES:
                return i
    return 1


def _display_width(text: str) -> int:
    """Terminal columns: Hangul and other wide characters take two; combining marks and the
    vowels and final consonants of jamo-spelt (NFD) Hangul, which join the character before
    them, none."""
    import unicodedata

    def width(c: str) -> int:
        if unicodedata.category(c) in ("Mn", "Me", "Cf") or "\u1160" <= c <= "\u11ff":
            return 0
        return 2 if unicodedata.east_asian_width(c) in "WF" else 1
    return sum(map(width, text))


def _left(text: str, width: int) -> str:
    return text + " " * max(width - _display_width(text), 0)


def _right(text: str, width: int) -> str:
    return " " * max(width - _display_width(text), 0) + text


def _ratio(a, b):
    b = np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros_like(b), where=b > 0)


def format_metrics(m: dict) -> str:
    labels = [str(v) for v in m["labels"]]
    width = max(9, *(_display_width(v) + 2 for v in labels))
    lines = [f"accuracy {m['accuracy']:.4f}   macro-F1 {m['macro_f1']:.4f}   "
             f"loss {m['loss']:.4f}   ({m['examples']} examples)"]
    if "tpr" in m:
        lines.append(f"TPR {m['tpr']:.4f}   TNR {m['tnr']:.4f}   (positive label: {m['positive_label']})")
    if "ms_per_sample" in m:
        lines.append(f"inference {m['ms_per_sample']:.3f} ms per sample (batched)")
    lines += ["", f"{'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for row in m["per_class"]:
        lines.append(f"{_left(str(row['label']), width)}{row['precision']:>10.4f}"
                     f"{row['recall']:>10.4f}{row['f1']:>10.4f}{row['support']:>10}")
    lines += ["", "confusion (rows: true, columns: predicted)",
              " " * width + "".join(_right(v, width) for v in labels)]
    for label, row in zip(labels, m["confusion"]):
        lines.append(_left(label, width) + "".join(f"{c:>{width}}" for c in row))
    return "\n".join(lines)


def plot_confusion(m: dict, path: Path, title: str = "confusion matrix") -> None:
    plt = _pyplot()
    from rnnlm.atomic import write_atomic

    confusion = np.asarray(m["confusion"])
    labels = [str(v) for v in m["labels"]]
    font = _font_with(labels)
    if font is False:  # no installed font writes them: class ids, as metrics.json lists them
        labels = [str(i) for i in range(len(labels))]
        title += "\n(class ids: the labels of metrics.json, in order)"
    size = min(3.0 + 0.45 * len(labels), 12)
    fig, ax = plt.subplots(figsize=(max(size, 4.5), size))
    ax.imshow(confusion, cmap="Blues")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted",
           ylabel="true", title=f"{title}\naccuracy {m['accuracy']:.4f}")
    ax.set_xticklabels(labels, fontfamily=font or None)
    ax.set_yticklabels(labels, fontfamily=font or None)
    if len(labels) <= 20:
        top = confusion.max() or 1
        for (i, j), count in np.ndenumerate(confusion):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > top / 2 else "black")
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)


def plot_curves(history: list[dict], path: Path) -> None:
    """curves.png of a classifier: loss and accuracy, training and validation, by epoch."""
    plt = _pyplot()
    from rnnlm.atomic import write_atomic

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, label in ((axes[0], "loss", "cross-entropy"), (axes[1], "accuracy", "accuracy")):
        ax.plot(epochs, [h.get(key) for h in history], "o-", label="training")
        if any(f"val_{key}" in h for h in history):
            ax.plot(epochs, [h.get(f"val_{key}") for h in history], "o-", label="validation")
        ax.set(xlabel="epoch", ylabel=label, title=key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)


def _font_with(labels: list[str]):
    """None when matplotlib's default font has every character of the labels; else the name of
    an installed font that has them (Korean labels need a CJK font, which the default lacks:
    it draws empty boxes and warns once per glyph), or False when none has."""
    from matplotlib import font_manager, ft2font

    needed = {ord(c) for label in labels for c in label}

    def covers(path) -> bool:
        try:
            return needed <= set(ft2font.FT2Font(path).get_charmap())
        except (OSError, RuntimeError):  # a font file matplotlib cannot open
            return False

    if covers(font_manager.findfont(font_manager.FontProperties())):
        return None
    # Not the "Last Resort" fonts (matplotlib ships one): they map every code point, to a box.
    return next((font.name for font in font_manager.fontManager.ttflist
                 if "last resort" not in font.name.lower() and covers(font.fname)), False)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display needed; never opens a window
    import matplotlib.pyplot as plt

    return plt
