#!/usr/bin/env python3
"""Clustering and routing quality against the Python baselines, over several seeds, on every
labelled corpus: the labelled citizen messages of ../shared/data (k = 7), the 60 000-comment
benchmark corpus built from them (k = 10, NMI over its labelled rows) and any external labelled
corpus given with --external (a CSV with `text` and `label`, e.g. the online-shopping reviews of
SophonPlus/ChineseNlpCorpus, which the models here have never seen).

1. Clustering NMI, median over --seeds seeds on both sides, same k: `haochaping cluster` against
   bench/python_recipe.py (jieba + TfidfVectorizer + KMeans, 3 inits).
2. Router macro-F1 on shuffled 80/20 splits (one per --splits seed): `haochaping train-router` /
   `route` against a *tuned* baseline: TF-IDF of character 1–2-grams (sublinear tf, min_df 2)
   + LogisticRegression with C chosen by 5-fold cross-validation on the training part.

    cargo build --release && pip install jieba scikit-learn
    python3 bench/quality.py [--seeds 5] [--splits 3] [--external NAME=PATH:K ...]
"""
import argparse
import csv
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "target" / "bench"
BIN = ROOT / "target" / "release" / "haochaping"


def sh(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout


def number(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else float("nan")


def read(path):
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


def corpora(args):
    """(name, csv path with text,label, k). Texts are title + 。 + body where there is a title."""
    OUT.mkdir(parents=True, exist_ok=True)
    out = []
    msgs = read(DATA / "teddy2020_msgs_labelled.csv")
    path = OUT / "q_teddy_labelled.csv"
    write(path, [(r["text"], r["label"]) for r in msgs])
    out.append(("teddy2020 labelled messages", path, 7, [(r["title"] + "。" + r["text"], r["label"]) for r in msgs]))
    comments = OUT / "comments_60k.csv"
    if not comments.exists():
        subprocess.run([sys.executable, "bench/make_corpus.py", "--out", str(comments)], check=True, cwd=ROOT)
    out.append(("60 000 comments (labelled rows)", comments, 10, None))
    for spec in args.external:
        name, rest = spec.split("=", 1)
        file, k = rest.rsplit(":", 1)
        rows = [r for r in read(file) if r.get("text", "").strip() and r.get("label", "").strip()]
        path = OUT / f"q_{name}.csv"
        write(path, [(r["text"], r["label"]) for r in rows])
        out.append((name, path, int(k), [(r["text"], r["label"]) for r in rows]))
    return out


def clustering(name, path, k, seeds):
    ours, theirs = [], []
    for seed in seeds:
        o = sh([str(BIN), "cluster", "--input", str(path), "--text-column", "text", "--label-column", "label",
                "--k", str(k), "--seed", str(seed), "--n-init", "3", "--out", str(OUT / "q_assign.csv")])
        t = sh([sys.executable, "bench/python_recipe.py", "--input", str(path), "--text-column", "text",
                "--label-column", "label", "--k", str(k), "--n-init", "3", "--seed", str(seed)])
        ours.append(number(r"nmi = ([0-9.]+)", o))
        theirs.append(number(r"nmi = ([0-9.]+)", t))
        print(f"  seed {seed}: haochaping {ours[-1]:.4f}   python recipe {theirs[-1]:.4f}", flush=True)
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(f"{name}: clustering NMI (k = {k}), median of {len(seeds)} seeds: haochaping {mo:.4f}   python recipe {mt:.4f}", flush=True)
    return mo >= mt


def routing(name, rows, split_seeds):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GridSearchCV

    ours, theirs = [], []
    for seed in split_seeds:
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        cut = int(round(len(shuffled) * 0.8))
        train, test = shuffled[:cut], shuffled[cut:]
        write(OUT / "q_router_train.csv", train)
        write(OUT / "q_router_test.csv", test)
        sh([str(BIN), "train-router", "--input", str(OUT / "q_router_train.csv"), "--text-column", "text",
            "--label-column", "label", "--out", str(OUT / "q_router.json")])
        routed = sh([str(BIN), "route", "--model", str(OUT / "q_router.json"), "--input", str(OUT / "q_router_test.csv"),
                     "--text-column", "text", "--label-column", "label", "--out", str(OUT / "q_routed.csv")])
        ours.append(number(r"macro_f1 = ([0-9.]+)", routed))
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        x_train = vec.fit_transform([t for t, _ in train])
        grid = GridSearchCV(LogisticRegression(max_iter=3000), {"C": [0.1, 1, 10, 100]}, cv=5, scoring="f1_macro", n_jobs=1)
        grid.fit(x_train, [l for _, l in train])
        predicted = grid.predict(vec.transform([t for t, _ in test]))
        theirs.append(f1_score([l for _, l in test], predicted, average="macro"))
        print(f"  split {seed}: haochaping {ours[-1]:.4f}   tuned TF-IDF char 1-2 + LR (C = {grid.best_params_['C']}) {theirs[-1]:.4f}", flush=True)
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(f"{name}: router macro-F1 ({len(train)} train / {len(test)} test), median of {len(split_seeds)} splits: haochaping {mo:.4f}   tuned baseline {mt:.4f}", flush=True)
    return mo >= mt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--external", action="append", default=[], help="NAME=PATH:K, a CSV with text and label columns")
    ap.add_argument("--only", choices=["clustering", "routing"])
    args = ap.parse_args()
    if not BIN.exists():
        sys.exit("build first: cargo build --release")
    seeds = [42 + 1000 * i for i in range(args.seeds)]
    split_seeds = [2020 + i for i in range(args.splits)]
    ok = True
    for name, path, k, rows in corpora(args):
        print(f"{name}: {path.name}, k = {k}", flush=True)
        if args.only != "routing":
            ok &= clustering(name, path, k, seeds)
        if args.only != "clustering" and rows is not None:
            ok &= routing(name, rows, split_seeds)
    print("every figure at least the baseline" if ok else "BELOW a baseline")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
