#!/usr/bin/env python3
"""Quality evaluation on ../shared/data/teddy2020_msgs_labelled.csv (7 labelled categories):

1. clustering NMI (k = 7): `haochaping cluster` against jieba + TfidfVectorizer + KMeans;
2. router macro-F1 on a fixed, stratified 80/20 split: `haochaping train-router`/`route` against
   TF-IDF of character 1–2-grams + LogisticRegression in scikit-learn.

    cargo build --release && pip install jieba scikit-learn && python3 bench/evaluate.py
"""
import csv
import random
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "teddy2020_msgs_labelled.csv"
OUT = ROOT / "target" / "bench"
BIN = ROOT / "target" / "release" / "haochaping"


def sh(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout


def number(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else float("nan")


def main():
    if not BIN.exists():
        sys.exit("build first: cargo build --release")
    OUT.mkdir(parents=True, exist_ok=True)
    with open(DATA, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    print(f"data: {DATA.name}, {len(rows)} messages, {len({r['label'] for r in rows})} labels")

    ours = sh([str(BIN), "cluster", "--input", str(DATA), "--text-column", "text", "--label-column", "label",
               "--k", "7", "--seed", "42", "--out", str(OUT / "teddy_clusters.csv")])
    theirs = sh([sys.executable, "bench/python_recipe.py", "--input", str(DATA), "--text-column", "text",
                 "--label-column", "label", "--k", "7", "--seed", "42"])
    c_ours, c_theirs = number(r"nmi = ([0-9.]+)", ours), number(r"nmi = ([0-9.]+)", theirs)
    print(f"clustering NMI (k = 7): haochaping {c_ours:.4f}   python recipe {c_theirs:.4f}")

    # Fixed stratified 80/20 split.
    by_label = defaultdict(list)
    for r in rows:
        by_label[r["label"]].append(r)
    rng = random.Random(2020)
    train, test = [], []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        cut = int(round(len(group) * 0.8))
        train += group[:cut]
        test += group[cut:]
    for name, part in (("router_train.csv", train), ("router_test.csv", test)):
        with open(OUT / name, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows([(r["title"] + "。" + r["text"], r["label"]) for r in part])
    sh([str(BIN), "train-router", "--input", str(OUT / "router_train.csv"), "--text-column", "text",
        "--label-column", "label", "--out", str(OUT / "router_eval.json")])
    routed = sh([str(BIN), "route", "--model", str(OUT / "router_eval.json"), "--input", str(OUT / "router_test.csv"),
                 "--text-column", "text", "--label-column", "label", "--out", str(OUT / "router_predictions.csv")])
    r_ours = number(r"macro_f1 = ([0-9.]+)", routed)

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    def texts(part):
        return [r["title"] + "。" + r["text"] for r in part]

    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2))
    x_train = vec.fit_transform(texts(train))
    clf = LogisticRegression(max_iter=2000).fit(x_train, [r["label"] for r in train])
    predicted = clf.predict(vec.transform(texts(test)))
    r_theirs = f1_score([r["label"] for r in test], predicted, average="macro")
    print(f"router macro-F1 ({len(train)} train / {len(test)} test): haochaping {r_ours:.4f}   "
          f"TF-IDF char 1-2 + LogisticRegression {r_theirs:.4f}")
    ok = c_ours >= c_theirs and r_ours >= r_theirs
    print("both at least the baseline" if ok else "BELOW the baseline")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
