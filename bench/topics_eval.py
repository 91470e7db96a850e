#!/usr/bin/env python3
"""Topic tracking on real complaints: the 1 368 labelled messages of ../shared/data spread at
random (seed 7) over the 12 weeks before a fixed scan time, stored as complaints in a scratch
SQLite database, tracked by `haochaping scan --at`; then how many were placed in a topic, and
how pure the topics are with respect to the messages' 7 labels (purity, NMI over the placed).

    python3 bench/topics_eval.py [target/release/haochaping] [../shared/data/teddy2020_msgs_labelled.csv]
"""
import collections
import csv
import datetime
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/haochaping"
data = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/teddy2020_msgs_labelled.csv"
rows = list(csv.DictReader(open(data, encoding="utf-8")))
scan_at = datetime.datetime(2026, 12, 6, 8, 0, 0)  # UTC; 16:00 in Beijing

with tempfile.TemporaryDirectory() as scratch:
    db = os.path.join(scratch, "topics.db")
    env = dict(os.environ, DATABASE_URL=f"sqlite://{db}", RUST_LOG="warn")
    subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
    random.seed(7)
    con = sqlite3.connect(db)
    labels = {}
    for i, row in enumerate(rows):
        at = (scan_at - datetime.timedelta(seconds=random.randint(3600, 12 * 7 * 86400))).strftime("%Y-%m-%d %H:%M:%S")
        cur = con.execute(
            "INSERT INTO complaints (source, external_no, title, content, received_at, routed_by, created_at) VALUES (?,?,?,?,?,?,?)",
            ("hotline_12345", f"E{i}", row["title"], row["text"], at, "unassigned", at),
        )
        labels[cur.lastrowid] = row["label"]
    con.commit()
    started = time.time()
    out = subprocess.run([binary, "scan", "--at", scan_at.strftime("%Y-%m-%dT%H:%M:%SZ")], env=env, check=True, capture_output=True)
    seconds = time.time() - started
    report = json.loads(out.stdout)["topics"]
    placed = con.execute("SELECT record_id, topic_id FROM topic_members WHERE source = 'complaint'").fetchall()

by_topic = collections.defaultdict(collections.Counter)
for record, topic in placed:
    by_topic[topic][labels[record]] += 1
n = len(placed)
purity = sum(c.most_common(1)[0][1] for c in by_topic.values()) / max(n, 1)


def entropy(counts):
    total = sum(counts.values())
    return -sum(v / total * math.log(v / total) for v in counts.values() if v)


label_counts = collections.Counter(labels[r] for r, _ in placed)
topic_counts = collections.Counter(t for _, t in placed)
joint = collections.Counter((t, labels[r]) for r, t in placed)
mi = sum(v / n * math.log((v / n) / ((topic_counts[t] / n) * (label_counts[l] / n))) for (t, l), v in joint.items())
nmi = 2 * mi / (entropy(label_counts) + entropy(topic_counts))
print(f"weeks {report['weeks_tracked']}, scan {seconds:.1f} s; placed {n}/{len(rows)} ({n / len(rows):.1%}) "
      f"in {len(by_topic)} topics; purity {purity:.3f}, NMI {nmi:.3f} against the 7 labels")
