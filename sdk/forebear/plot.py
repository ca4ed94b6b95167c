"""W&B's `wandb.plot`: charts logged with `run.log({"pr": forebear.plot.pr_curve(...)})`. Each
function returns a `Chart`: the table it draws, which kind of chart, and which columns. Curves
and matrices are computed here, from the labels and scores given (NumPy arrays or lists),
with nothing but the standard library. `split_table` is accepted and unused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from forebear._errors import BadInput
from forebear._media import Chart, Table, _depth, _plain

# points of one class's ROC curve kept, at most (evenly spread over its thresholds)
ROC_POINTS = 1000


def line(
    table: Table, x: str, y: str, stroke: str | None = None, title: str = "", **ignored: Any
) -> Chart:
    """Column `y` against column `x`, one line per value of `stroke` if given."""
    return Chart("line", table, {"x": x, "y": y, **({"stroke": stroke} if stroke else {})}, title)


def scatter(table: Table, x: str, y: str, title: str = "", **ignored: Any) -> Chart:
    """Column `y` against column `x`, as points."""
    return Chart("scatter", table, {"x": x, "y": y}, title)


def bar(table: Table, label: str, value: str, title: str = "", **ignored: Any) -> Chart:
    """One bar per row: its `label` and its `value`."""
    return Chart("bar", table, {"label": label, "value": value}, title)


def histogram(table: Table, value: str, title: str = "", **ignored: Any) -> Chart:
    """How the values of column `value` are spread."""
    return Chart("histogram", table, {"value": value}, title)


def line_series(
    xs: Any,
    ys: Any,
    keys: Sequence[str] | None = None,
    title: str = "",
    xname: str = "x",
    **ignored: Any,
) -> Chart:
    """Several lines on one chart: `ys` (a list of lines), over `xs` (shared, or one list per
    line), named by `keys` (default key_0, key_1, ...). Rows: lineKey, lineVal, step."""
    lines, shared = _plain(ys), _plain(xs)
    if _depth(lines) != 2:
        raise BadInput("line_series: ys is a list of lines, each a list of values")
    xs_of = shared if _depth(shared) == 2 else [shared] * len(lines)
    names = list(keys) if keys is not None else [f"key_{i}" for i in range(len(lines))]
    if len(xs_of) != len(lines) or len(names) != len(lines):
        raise BadInput(
            f"line_series: {len(lines)} lines, {len(xs_of)} lists of xs and {len(names)} keys"
        )
    rows = []
    for name, along, values in zip(names, xs_of, lines):
        if len(along) != len(values):
            raise BadInput(f"line_series: line {name!r} has {len(values)} values, {len(along)} xs")
        rows += [[str(name), value, x] for x, value in zip(along, values)]
    table = Table(columns=["lineKey", "lineVal", "step"], data=rows)
    fields = {"step": "step", "lineKey": "lineKey", "lineVal": "lineVal"}
    return Chart("line_series", table, fields, title, xname=xname)


def confusion_matrix(
    probs: Any = None,
    y_true: Any = None,
    preds: Any = None,
    class_names: Sequence[str] | None = None,
    title: str = "Confusion Matrix Curve",
    **ignored: Any,
) -> Chart:
    """How often each class was predicted as each: `y_true` and `preds` (or `probs`, whose
    greatest score is the prediction). With `class_names`, labels are their indices; without,
    integer labels 0..n-1 are named Class_1..Class_n and other labels by themselves. Rows:
    Actual, Predicted, nPredictions, for every pair of classes."""
    if y_true is None or (probs is None) == (preds is None):
        raise BadInput("confusion_matrix: give y_true, and either preds or probs")
    truth = list(_plain(y_true))
    if probs is not None:
        scores = _plain(probs)
        if _depth(scores) != 2:
            raise BadInput("confusion_matrix: probs is one row of class scores per example")
        guessed = [max(range(len(row)), key=row.__getitem__) for row in scores]
        if not all(isinstance(v, int) for v in truth):  # a score per label, in their order
            order = sorted(set(truth), key=str)
            if len(order) != len(scores[0]):
                raise BadInput(
                    f"confusion_matrix: probs has {len(scores[0])} scores per example for "
                    f"{len(order)} labels in y_true: give labels 0 to n-1, or a score per label"
                )
            guessed = [order[i] for i in guessed]
    else:
        guessed = list(_plain(preds))
    if len(guessed) != len(truth):
        raise BadInput(f"confusion_matrix: {len(truth)} labels but {len(guessed)} predictions")
    seen = truth + guessed
    if class_names is not None:
        names = [str(n) for n in class_names]
        if not all(isinstance(v, int) and 0 <= v < len(names) for v in seen):
            raise BadInput(
                f"confusion_matrix: with {len(names)} class_names, labels and predictions are "
                f"their indices, 0 to {len(names) - 1}"
            )
        index = {i: i for i in range(len(names))}
    elif all(isinstance(v, int) and v >= 0 for v in seen):
        names = [f"Class_{i + 1}" for i in range(max(seen, default=-1) + 1)]
        index = {i: i for i in range(len(names))}
    else:
        labels = sorted(set(seen), key=str)
        names, index = [str(v) for v in labels], {v: i for i, v in enumerate(labels)}
    counts = [[0] * len(names) for _ in names]
    for actual, predicted in zip(truth, guessed):
        counts[index[actual]][index[predicted]] += 1
    rows = [
        [names[a], names[p], counts[a][p]] for a in range(len(names)) for p in range(len(names))
    ]
    table = Table(columns=["Actual", "Predicted", "nPredictions"], data=rows)
    fields = {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"}
    return Chart("confusion_matrix", table, fields, title)


def pr_curve(
    y_true: Any,
    y_probas: Any,
    labels: Sequence[str] | None = None,
    classes_to_plot: Any = None,
    interp_size: int = 21,
    title: str = "Precision-Recall Curve",
    **ignored: Any,
) -> Chart:
    """Each class's precision against recall, one class against the rest, at `interp_size`
    recall levels from 0 to 1 (the best precision at that recall or more). `y_probas` has a
    score per class for each example. Rows: class, recall, precision."""
    if not 2 <= interp_size <= 1000:
        raise BadInput(f"pr_curve: interp_size={interp_size}: 2 to 1000 recall levels")
    rows = []
    for name, counts, positives, _ in _per_class(y_true, y_probas, labels, classes_to_plot):
        curve = [(tp / positives, tp / (tp + fp)) for tp, fp in counts]
        for i in range(interp_size):
            level = i / (interp_size - 1)
            best = max((p for r, p in curve if r >= level - 1e-12), default=0.0)
            rows.append([name, round(level, 6), round(best, 6)])
    table = Table(columns=["class", "recall", "precision"], data=rows)
    return Chart("pr_curve", table, {"x": "recall", "y": "precision", "class": "class"}, title)


def roc_curve(
    y_true: Any,
    y_probas: Any,
    labels: Sequence[str] | None = None,
    classes_to_plot: Any = None,
    title: str = "ROC Curve",
    **ignored: Any,
) -> Chart:
    """Each class's true positive rate against its false positive rate, one class against
    the rest, at every threshold (up to ROC_POINTS of them). Rows: class, fpr, tpr. A class
    with no examples of other classes has no curve."""
    rows = []
    for name, counts, positives, negatives in _per_class(y_true, y_probas, labels, classes_to_plot):
        if not negatives:
            continue
        points = [(0, 0), *counts]
        step = max(1, -(-len(points) // ROC_POINTS))
        for tp, fp in points[::step] + ([points[-1]] if (len(points) - 1) % step else []):
            rows.append([name, round(fp / negatives, 6), round(tp / positives, 6)])
    if not rows:
        raise BadInput("roc_curve: y_true needs examples of at least two classes")
    table = Table(columns=["class", "fpr", "tpr"], data=rows)
    return Chart("roc_curve", table, {"x": "fpr", "y": "tpr", "class": "class"}, title)


def _per_class(
    y_true: Any,
    y_probas: Any,
    labels: Sequence[str] | None,
    classes_to_plot: Any,
) -> list[tuple[str, list[tuple[int, int]], int, int]]:
    """For each class plotted (one against the rest): its name, the (true, false) positives
    counted down the scores, at each distinct score, and its positives and negatives. A
    class's scores are the column its index names (integer labels), else the column of its
    place among the labels sorted (as W&B's)."""
    truth, scores = list(_plain(y_true)), _plain(y_probas)
    if _depth(scores) != 2 or len(scores) != len(truth) or not truth:
        raise BadInput(
            f"{len(truth)} labels: y_probas is one row of class scores per example, as many rows"
        )
    width = len(scores[0])
    classes = sorted(set(truth), key=str)
    if all(isinstance(c, int) and 0 <= c < width for c in classes):
        column = {c: c for c in classes}
    elif len(classes) == width:
        column = {c: i for i, c in enumerate(classes)}
    else:
        raise BadInput(
            f"y_probas has {width} scores per example for {len(classes)} classes in y_true: "
            "give integer labels 0 to n-1, or one score per class"
        )
    wanted = classes if classes_to_plot is None else list(_plain(classes_to_plot))
    found = []
    for c in wanted:
        if c not in column:
            raise BadInput(f"classes_to_plot: {c!r} is not a label in y_true")
        at = column[c]
        order = sorted(range(len(truth)), key=lambda i: -float(scores[i][at]))
        counts, tp, fp = [], 0, 0
        for rank, i in enumerate(order):
            tp, fp = (tp + 1, fp) if truth[i] == c else (tp, fp + 1)
            last = rank == len(order) - 1
            if last or float(scores[order[rank + 1]][at]) != float(scores[i][at]):
                counts.append((tp, fp))
        name = str(labels[at]) if labels is not None and at < len(labels) else str(c)
        found.append((name, counts, tp, fp))
    return found
