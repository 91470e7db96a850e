#!/usr/bin/env python3
"""Checks the calendars haochaping ships against the `chinesecalendar` package.

    pip install chinesecalendar && python3 bench/check_calendar.py

Reads the dates from src/domain/calendar.rs and prints, per year, whether the weekday
holidays and the worked weekend days (调休) agree exactly.
"""
import re
import sys
from pathlib import Path

from chinese_calendar.constants import holidays, workdays

source = Path(__file__).resolve().parent.parent / "src/domain/calendar.rs"
text = source.read_text(encoding="utf-8")
ok = True
for block in re.finditer(r"year: (\d{4}),\s*holidays: dates\(\s*\d{4},\s*&\[(.*?)\],\s*\),\s*workdays: dates\(\d{4}, &\[(.*?)\]\)", text, re.S):
    year = int(block.group(1))
    pairs = lambda s: sorted((int(m), int(d)) for m, d in re.findall(r"\((\d+), (\d+)\)", s))
    ours_h, ours_w = pairs(block.group(2)), pairs(block.group(3))
    theirs_h = sorted((d.month, d.day) for d in holidays if d.year == year and d.weekday() < 5)
    theirs_w = sorted((d.month, d.day) for d in workdays if d.year == year and d.weekday() >= 5)
    same = ours_h == theirs_h and ours_w == theirs_w
    ok &= same
    print(f"{year}: holidays {len(ours_h)} vs {len(theirs_h)}, workdays {len(ours_w)} vs {len(theirs_w)}: {'identical' if same else 'DIFFERENT'}")
    if not same:
        print("  ours only:", sorted(set(ours_h + ours_w) - set(theirs_h + theirs_w)))
        print("  theirs only:", sorted(set(theirs_h + theirs_w) - set(ours_h + ours_w)))
sys.exit(0 if ok else 1)
