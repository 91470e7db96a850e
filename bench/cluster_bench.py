#!/usr/bin/env python3
"""Clustering benchmark: `haochaping cluster` against the Python recipe analysts use today
(jieba + scikit-learn TfidfVectorizer + KMeans, k = 10, 3 inits), on the same CSV, on the same
machine, in one run. The two sides alternate, RUNS times each; medians are reported, because
this machine is noisy.

    python3 bench/cluster_bench.py [--runs 5] [--input target/bench/comments_60k.csv]

Needs `cargo build --release` and `pip install jieba scikit-learn`; builds the corpus with
bench/make_corpus.py when it is missing (that reads ../shared/data).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd):
    """Runs cmd; returns (wall seconds, cpu seconds, peak RSS MiB, stdout, stderr)."""
    with tempfile.TemporaryFile() as err_file:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file, cwd=ROOT)
        out = proc.stdout.read().decode("utf-8")
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        err_file.seek(0)
        err = err_file.read().decode("utf-8")
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(cmd)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out, err


STEPS = {"read": "jieba dictionary (the words these texts contain)", "tokenising": "tokenising + vocabulary",
         "vectorising:": "TF-IDF vectors (+ LSA basis)", "LSA:": "LSA projection", "k-means:": "k-means",
         "converged": "labels, samples, silhouette, output"}


def steps(err):
    """Seconds of each step of `haochaping cluster`, from the timestamps of its progress lines
    (each line is printed as its step starts or the one before ends)."""
    marks = [(float(m.group(1)), m.group(2)) for m in re.finditer(r"\[\s*([0-9.]+)s\] (\S+)", err)]
    out = {"process start + reading the CSV": marks[0][0] if marks else 0.0}
    for (at, word), (next_at, _) in zip(marks, marks[1:]):
        name = STEPS.get(word, word)
        out[name] = out.get(name, 0.0) + next_at - at
    return out


def nmi_of(out):
    m = re.search(r"nmi = ([0-9.]+)", out)
    return float(m.group(1)) if m else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--input", default="target/bench/comments_60k.csv")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    if not (ROOT / args.input).exists():
        subprocess.run([sys.executable, "bench/make_corpus.py", "--out", args.input], check=True, cwd=ROOT)
    binary = ROOT / "target/release/haochaping"
    if not binary.exists():
        sys.exit("build first: cargo build --release")
    ours_cmd = [str(binary), "cluster", "--input", args.input, "--text-column", "text", "--label-column", "label",
                "--k", str(args.k), "--n-init", "3", "--seed", "42", "--out", "target/bench/assignments.csv"]
    python_cmd = [sys.executable, "bench/python_recipe.py", "--input", args.input, "--text-column", "text",
                  "--label-column", "label", "--k", str(args.k), "--n-init", "3", "--seed", "42"]
    rows = sum(1 for _ in open(ROOT / args.input, encoding="utf-8")) - 1
    print(f"corpus: {args.input} ({rows} comments), k = {args.k}, {args.runs} alternating runs each", flush=True)
    ours, theirs = [], []
    for i in range(args.runs):
        ours.append(run(ours_cmd))
        theirs.append(run(python_cmd))
        print(f"run {i + 1}: haochaping {ours[-1][0]:.2f} s (cpu {ours[-1][1]:.2f} s)   "
              f"python {theirs[-1][0]:.2f} s (cpu {theirs[-1][1]:.2f} s)", flush=True)
    med = lambda xs, j: statistics.median(x[j] for x in xs)
    print()
    print(f"{'':12}{'median wall s':>15}{'median cpu s':>15}{'peak RSS MiB':>15}{'NMI':>9}")
    for name, xs in (("haochaping", ours), ("python", theirs)):
        print(f"{name:12}{med(xs, 0):15.2f}{med(xs, 1):15.2f}{max(x[2] for x in xs):15.0f}{nmi_of(xs[0][3]):9.4f}")
    print()
    print(f"ratio (python / haochaping, median wall) = {med(theirs, 0) / med(ours, 0):.1f}x")
    print(f"ratio (python / haochaping, median cpu)  = {med(theirs, 1) / med(ours, 1):.1f}x")
    print(f"nmi haochaping = {nmi_of(ours[0][3]):.4f}, python = {nmi_of(theirs[0][3]):.4f}")
    print()
    print("haochaping's wall time by step (median seconds):")
    split = [steps(x[4]) for x in ours]
    for name in split[0]:
        print(f"  {name:45}{statistics.median(s.get(name, 0.0) for s in split):8.3f}")


if __name__ == "__main__":
    main()
