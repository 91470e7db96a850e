#!/usr/bin/env python3
"""Builds the clustering benchmark corpus: ~60 000 short Chinese comments from the public
citizen-message data in ../shared/data (not committed; see its README).

Labelled rows are the clauses, sentences and titles of teddy2020_msgs_labelled.csv, each with
its message's category (texts that occur under two labels are dropped). The rest, up to the
target size, are clauses of the unlabelled hot-issue and reply files (label left empty): they
are clustered too, and NMI is computed on the labelled rows only.

    python3 bench/make_corpus.py [--size 60000] [--out target/bench/comments_60k.csv]
"""
import argparse
import csv
import random
import re
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CLAUSE = re.compile(r"[。！？；，,!?;：:\s]+")
SENTENCE = re.compile(r"[。！？；!?;]+")


def pieces(text, splitter, min_len=6, max_len=80):
    for p in splitter.split(text or ""):
        p = p.strip()
        if min_len <= len(p) <= max_len:
            yield p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=60000)
    ap.add_argument("--out", default="target/bench/comments_60k.csv")
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args()
    data = Path(args.data)
    labelled = {}
    with open(data / "teddy2020_msgs_labelled.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts = [row["title"]] + list(pieces(row["text"], SENTENCE)) + list(pieces(row["text"], CLAUSE))
            for t in texts:
                t = t.strip()
                if len(t) < 6:
                    continue
                if t in labelled and labelled[t] != row["label"]:
                    labelled[t] = None
                else:
                    labelled[t] = row["label"]
    rows = [(t, l) for t, l in labelled.items() if l]
    seen = set(labelled)
    extra = []
    for name in ("teddy2020_hot_issues.csv", "teddy2020_replies.csv"):
        with open(data / name, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for t in pieces(row["text"], CLAUSE):
                    if t not in seen:
                        seen.add(t)
                        extra.append((t, ""))
    rng = random.Random(20261122)
    rng.shuffle(extra)
    rows += extra[: max(0, args.size - len(rows))]
    rng.shuffle(rows)
    rows = rows[: args.size]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    n_labelled = sum(1 for _, l in rows if l)
    print(f"wrote {len(rows)} comments ({n_labelled} labelled, {len(rows) - n_labelled} unlabelled) to {out}")


if __name__ == "__main__":
    main()
