import sys, statistics as st
rows=[l.split() for l in open(sys.argv[1]) if len(l.split())==8]
plain='BenchmarkBurnDown'; pk='BenchmarkBurnDownPartitionLimit'
d={}
for r,b,bench,load,j,c,e,ec in rows:
    d[(r,b,bench)]=(float(j),float(c),float(e),float(ec),float(load))
rounds=sorted(set(k[0] for k in d),key=int)
loads=[v[4] for v in d.values()]
print("load %.1f-%.1f, %d rounds"%(min(loads),max(loads),len(rounds)))
def mmm(x): return "%.2f / %.2f / %.2f"%(min(x),st.median(x),max(x)) if x else "-"
for b in ['before','after']:
    rr=[r for r in rounds if (r,b,plain) in d and (r,b,pk) in d]
    print(f"{b}: per key / plain jobs/s {mmm([d[(r,b,pk)][0]/d[(r,b,plain)][0] for r in rr])}   by CPU/job {mmm([d[(r,b,plain)][1]/d[(r,b,pk)][1] for r in rr])}")
for bench in [plain,pk]:
    rr=[r for r in rounds if (r,'after',bench) in d and (r,'before',bench) in d]
    print(f"{bench} after/before same round: CPU/job {mmm([d[(r,'after',bench)][1]/d[(r,'before',bench)][1] for r in rr])}  jobs/s {mmm([d[(r,'after',bench)][0]/d[(r,'before',bench)][0] for r in rr])}  enqueue CPU {mmm([d[(r,'after',bench)][3]/d[(r,'before',bench)][3] for r in rr])}")
    for b in ['before','after']:
        print(f"   {b}: CPU µs/job {mmm([d[(r,b,bench)][1] for r in rr])}")
