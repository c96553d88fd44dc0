import sys, statistics as st
# rows: round build bench load jobs cpu enq enqcpu
rows=[l.split() for l in open(sys.argv[1]) if len(l.split())==8]
plain=sys.argv[2] if len(sys.argv)>2 else 'BenchmarkBurnDown'
d={}
for r,b,bench,load,j,c,e,ec in rows:
    d[(r,b,bench)]=(float(j),float(c),float(e),float(ec),float(load))
builds=sorted(set(k[1] for k in d)); benches=sorted(set(k[2] for k in d))
rounds=sorted(set(k[0] for k in d),key=int)
loads=[v[4] for v in d.values()]
print("load %.1f-%.1f, %d rounds"%(min(loads),max(loads),len(rounds)))
def mmm(x): return "%.2f / %.2f / %.2f"%(min(x),st.median(x),max(x)) if x else "-"
for b in builds:
    for bench in benches:
        if bench==plain: continue
        rj=[d[(r,b,bench)][0]/d[(r,b,plain)][0] for r in rounds if (r,b,bench) in d and (r,b,plain) in d]
        rc=[d[(r,b,plain)][1]/d[(r,b,bench)][1] for r in rounds if (r,b,bench) in d and (r,b,plain) in d]
        print(f"{b:5s} {bench:38s} jobs/s ratio {mmm(rj)}   cpu ratio {mmm(rc)}   jobs/s med {st.median([d[(r,b,bench)][0] for r in rounds if (r,b,bench) in d]):.0f} cpu med {st.median([d[(r,b,bench)][1] for r in rounds if (r,b,bench) in d]):.2f} enq-cpu med {st.median([d[(r,b,bench)][3] for r in rounds if (r,b,bench) in d]):.2f}")
    pj=[d[(r,b,plain)] for r in rounds if (r,b,plain) in d]
    if pj: print(f"{b:5s} {plain:38s} jobs/s med {st.median([x[0] for x in pj]):.0f} cpu med {st.median([x[1] for x in pj]):.2f} enq-cpu med {st.median([x[3] for x in pj]):.2f}")
