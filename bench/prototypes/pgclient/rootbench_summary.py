import sys, statistics as st, re
rows = {}; loads=[]
for line in open(sys.argv[1]):
    f = line.split()
    lab, rd, load = f[0], f[1], float(f[2]); loads.append(load)
    m = {}
    for i in range(3, len(f)-1):
        if re.match(r'^[a-zA-Z]', f[i+1]) and re.match(r'^[0-9.]+$', f[i]): m[f[i+1]] = float(f[i])
    rows.setdefault(rd, {})[lab] = m
full = [r for r in rows.values() if len(r) == 3]
def mmm(xs):
    xs = sorted(xs); return "%.2f / %.2f / %.2f" % (xs[0], st.median(xs), xs[-1])
print("rounds", len(full), "load %.1f-%.1f" % (min(loads), max(loads)))
for lab in ["mainpk","branchpk","branchplain"]:
    print(lab, " ".join("%s %.3f" % (k, st.median([r[lab][k] for r in full])) for k in ["cpu-µs/job","allocs/job","B/job","gc/1k-jobs","jobs/s"]))
print("main÷branch per key cpu", mmm([r["mainpk"]["cpu-µs/job"]/r["branchpk"]["cpu-µs/job"] for r in full]))
print("branch÷main per key jobs/s", mmm([r["branchpk"]["jobs/s"]/r["mainpk"]["jobs/s"] for r in full]))
print("plain÷per key cpu branch", mmm([r["branchplain"]["cpu-µs/job"]/r["branchpk"]["cpu-µs/job"] for r in full]))
print("plain÷per key cpu main", mmm([r["branchplain"]["cpu-µs/job"]/r["mainpk"]["cpu-µs/job"] for r in full]))
print("per key÷plain jobs/s branch", mmm([r["branchpk"]["jobs/s"]/r["branchplain"]["jobs/s"] for r in full]))
