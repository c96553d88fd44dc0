#!/usr/bin/env python3
"""Summarise remeasure.sh's output: ratios per pair or round, min/median/max.

    python3 bench/scripts/remeasure_summary.py /tmp/remeasure.out
"""
import re
import statistics
import sys


def runs(text):
    """Yield (label, start, load, body) for every '=== label | ...' block."""
    for m in re.finditer(r"^=== (.+?) \| (\S+) \| load (\S+) \S+ \S+ \| \S+\n(.*?)^=== end", text, re.S | re.M):
        yield m.group(1), m.group(2), float(m.group(3)), m.group(4)


def round_tables(body):
    """Per round of compare's output, {system: {figure: text}}."""
    out = []
    for m in re.finditer(r"^Round \d+\n\n(\|.+?)\n\n", body, re.S | re.M):
        lines = [l for l in m.group(1).splitlines() if not l.startswith("|--")]
        head = [c.strip() for c in lines[0].strip("|").split("|")]
        systems = [h for h in head[1:] if "/" not in h]
        t = {s: {} for s in systems}
        for l in lines[1:]:
            cells = [c.strip() for c in l.strip("|").split("|")]
            for s, v in zip(systems, cells[1:]):
                t[s][cells[0]] = v
        out.append(t)
    return out


def num(v):
    m = re.match(r"[-\d,.]+", v or "")
    return float(m.group(0).replace(",", "")) if m else float("nan")


def lite(body):
    m = re.search(r"([\d.]+) cpu-µs/job.*?(\d+) jobs/s.*?(\d+) allocs/op", body)
    return (float(m.group(2)), float(m.group(1)), int(m.group(3))) if m else None


def mmm(xs):
    xs = [x for x in xs if x == x]
    return "%.2f / %.2f / %.2f" % (min(xs), statistics.median(xs), max(xs)) if xs else "-"


def main():
    text = open(sys.argv[1]).read()
    all_runs = list(runs(text))
    # flow control, PostgreSQL: per round, per-key and rate ÷ plain
    flow = {}
    for label, t, load, body in all_runs:
        m = re.match(r"flowpg (\w+) r(\d+)", label)
        if m:
            tabs = round_tables(body)
            if tabs:
                k = tabs[0]["kiln"]
                db, proc = num(k.get("CPU per job, db server")), num(k.get("CPU per job, this process"))
                flow.setdefault(m.group(2), {})[m.group(1)] = (num(k["burn-down (jobs/s)"]), db, db + proc, load)
    if flow:
        print("## flow control, PostgreSQL (jobs/s, db CPU µs/job, total CPU µs/job, load)")
        for r, d in sorted(flow.items(), key=lambda x: int(x[0])):
            print("  round", r, d)
        for k in ("perkey", "rate"):
            rounds = [d for d in flow.values() if d.get(k) and d.get("plain")]
            if not rounds:
                continue
            for name, i, inverse in (("jobs/s", 0, False), ("db CPU per job", 1, True), ("total CPU per job", 2, True)):
                v = [d["plain"][i] / d[k][i] if inverse else d[k][i] / d["plain"][i] for d in rounds]
                how = "plain ÷ %s" % k if inverse else "%s ÷ plain" % k
                print("  %s, %s: %s  (%s)" % (name, how, mmm(v), ", ".join("%.2f" % x for x in v)))
    flow = {}
    for label, t, load, body in all_runs:
        m = re.match(r"flowlite Benchmark(\w+)\$ r(\d+)", label)
        if m:
            flow.setdefault(m.group(2), {})[m.group(1)] = lite(body) + (load,)
    if flow:
        print("## flow control, SQLite (jobs/s, cpu µs/job, allocs, load)")
        ratios = {}
        for r, d in sorted(flow.items()):
            print("  round", r, d)
            for k in d:
                if k != "BurnDown":
                    ratios.setdefault(k, []).append(d[k][0] / d["BurnDown"][0])
        for k, v in ratios.items():
            print("  %s ÷ plain: %s  (%s)" % (k, mmm(v), ", ".join("%.2f" % x for x in v)))
    keys = {}
    for label, t, load, body in all_runs:
        m = re.match(r"litekeys (before|after) Benchmark(\w+)\$ r(\d+)", label)
        if m and lite(body):
            keys.setdefault(m.group(3), {})[(m.group(1), m.group(2))] = lite(body) + (load,)
    if keys:
        print("## SQLite per key (jobs/s, cpu µs/job, allocs, load)")
        for r, d in sorted(keys.items(), key=lambda x: int(x[0])):
            print("  round", r, d)
        pk, plain = "BurnDownPartitionLimit", "BurnDown"
        for b in ("before", "after"):
            rounds = [d for d in keys.values() if (b, pk) in d and (b, plain) in d]
            print("  %s: per key ÷ plain jobs/s %s, CPU per job plain ÷ per key %s" % (
                b, mmm([d[(b, pk)][0] / d[(b, plain)][0] for d in rounds]),
                mmm([d[(b, plain)][1] / d[(b, pk)][1] for d in rounds])))
        for bench in (plain, pk):
            rounds = [d for d in keys.values() if ("after", bench) in d and ("before", bench) in d]
            print("  %s: after ÷ before jobs/s %s, CPU per job before ÷ after %s" % (
                bench, mmm([d[("after", bench)][0] / d[("before", bench)][0] for d in rounds]),
                mmm([d[("before", bench)][1] / d[("after", bench)][1] for d in rounds])))
    for sect, parse in (("keys100", "pg"), ("pairs", "pg"), ("litepairs", "lite")):
        pairs = {}
        for label, t, load, body in all_runs:
            m = re.match(sect + r" (before|after) p(\d+)", label)
            if not m:
                continue
            if parse == "pg":
                tabs = round_tables(body)
                k = tabs[0]["kiln"] if tabs else {}
                v = (num(k.get("burn-down (jobs/s)")), num(k.get("CPU per job, this process")) + num(k.get("CPU per job, db server")),
                     k.get("latency in-process p50"), k.get("latency in-process p99"), k.get("latency cross-client p50"), k.get("latency cross-client p99"), load)
            else:
                v = lite(body) + (load,)
            pairs.setdefault(int(m.group(2)), {})[m.group(1)] = v
        if pairs:
            print("## %s: before / after (jobs/s, CPU µs/job, ...)" % sect)
            rs = []
            for p, d in sorted(pairs.items()):
                r = d["after"][0] / d["before"][0] if "after" in d and "before" in d else float("nan")
                rs.append(r)
                print("  pair %d: before %s | after %s | after÷before %.2f" % (p, d.get("before"), d.get("after"), r))
            print("  after ÷ before:", mmm(rs))
    for label, t, load, body in all_runs:
        if label in ("krf", "burn", "continuous", "million"):
            print("## %s (start %s, load %.1f)" % (label, t, load))
            for i, tab in enumerate(round_tables(body)):
                def g(s, f):
                    return num(tab.get(s, {}).get(f))
                fig = "completed (jobs/s)" if label == "continuous" else "burn-down (jobs/s)"
                keys = [f for f in next(iter(tab.values())).keys() if "jobs/s" in f]
                if fig not in keys and keys:
                    fig = keys[-1]
                row = {s: g(s, fig) for s in tab}
                cpu = {s: (tab[s].get("CPU per job, this process"), tab[s].get("CPU per job, db server")) for s in tab}
                extra = ""
                if "kiln" in row:
                    extra = "  " + ", ".join("kiln÷%s %.2f" % (s, row["kiln"] / row[s]) for s in row if s != "kiln" and row[s])
                print("  round %d [%s]: %s%s\n    cpu: %s" % (i + 1, fig, row, extra, cpu))
            for line in body.splitlines():
                if re.search(r"queue|backlog|RSS|p50|p99", line) and "|" in line:
                    print("   ", line.strip())
        if label == "scale":
            print("## scale (start %s, load %.1f)" % (t, load))
            print("\n".join("    " + l for l in body.splitlines()[-40:]))


main()
