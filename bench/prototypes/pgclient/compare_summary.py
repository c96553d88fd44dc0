import sys, statistics as st
rows = {}
loads = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 7: continue
    lab, rd, load, rate, proc, db, tot = f[0], f[1], float(f[2]), float(f[3]), float(f[4]), float(f[5]), float(f[6])
    rows.setdefault(rd, {})[lab] = (rate, proc, db, tot)
    loads.append(load)
def mmm(xs):
    xs = sorted(xs)
    return "%.2f / %.2f / %.2f" % (xs[0], st.median(xs), xs[-1])
full = [r for r in rows.values() if len(r) == 3]
print("rounds", len(full), "load %.1f-%.1f" % (min(loads), max(loads)))
for lab in ["mainpk", "branchpk", "branchplain"]:
    v = [r[lab] for r in full]
    print(lab, "medians: jobs/s %.0f, proc %.1f, db %.1f, total %.1f" % tuple(st.median([x[i] for x in v]) for i in range(4)))
print("branch÷main per key, jobs/s", mmm([r["branchpk"][0]/r["mainpk"][0] for r in full]))
for i, n in [(1, "proc"), (2, "db"), (3, "total")]:
    print("main÷branch per key CPU/job", n, mmm([r["mainpk"][i]/r["branchpk"][i] for r in full]))
print("branch per key ÷ plain jobs/s", mmm([r["branchpk"][0]/r["branchplain"][0] for r in full]))
for i, n in [(1, "proc"), (2, "db"), (3, "total")]:
    print("branch plain÷per key CPU/job", n, mmm([r["branchplain"][i]/r["branchpk"][i] for r in full]))
print("main per key ÷ branch plain jobs/s", mmm([r["mainpk"][0]/r["branchplain"][0] for r in full]))
for i, n in [(1, "proc"), (2, "db"), (3, "total")]:
    print("branch plain÷main per key CPU/job", n, mmm([r["branchplain"][i]/r["mainpk"][i] for r in full]))
