#!/usr/bin/env python3
"""The clustering recipe analysts use today: jieba + scikit-learn TfidfVectorizer + KMeans.

    python3 bench/python_recipe.py --input F.csv --text-column text --label-column label --k 10

Prints the same summary lines as `haochaping cluster` (nmi over labelled rows, seconds).
The stop words are the project's own list, so both sides drop the same words.
"""
import argparse
import csv
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--label-column")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--n-init", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    started = time.perf_counter()
    import jieba
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import normalized_mutual_info_score

    jieba.setLogLevel(60)
    stop = set((ROOT / "nlp-models" / "stopwords.txt").read_text(encoding="utf-8").split())
    with open(args.input, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts = [r[args.text_column] for r in rows]

    def tokenize(text):
        return [t for t in jieba.lcut(text) if t.strip() and t not in stop]

    vectorizer = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=True, min_df=2, max_df=0.5, sublinear_tf=True)
    matrix = vectorizer.fit_transform(texts)
    model = KMeans(n_clusters=args.k, n_init=args.n_init, random_state=args.seed).fit(matrix)
    seconds = time.perf_counter() - started
    print(f"k = {args.k}   texts = {len(texts)}   vocabulary = {len(vectorizer.vocabulary_)}")
    if args.label_column:
        pairs = [(r[args.label_column], c) for r, c in zip(rows, model.labels_) if r[args.label_column]]
        nmi = normalized_mutual_info_score([p[0] for p in pairs], [p[1] for p in pairs])
        print(f"nmi = {nmi:.4f} over {len(pairs)} labelled rows")
    print(f"seconds = {seconds:.3f}")


if __name__ == "__main__":
    main()
