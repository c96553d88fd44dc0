import sys, statistics as st
rows=[l.split() for l in open(sys.argv[1]) if len(l.split())==8]
plain='BenchmarkBurnDown'
d={}
for r,b,bench,load,j,c,e,ec in rows:
    if float(j)==0: continue
    d[(r,b,bench)]=(float(j),float(c),float(e),float(ec),float(load))
builds=[b for b in ['main','branch'] if any(k[1]==b for k in d)]; benches=sorted(set(k[2] for k in d))
rounds=sorted(set(k[0] for k in d),key=int)
loads=[v[4] for v in d.values()]
print("load %.1f-%.1f, %d rounds"%(min(loads),max(loads),len(rounds)))
def mmm(x): return "%.2f / %.2f / %.2f"%(min(x),st.median(x),max(x)) if x else "-"
def mm2(x): return "%.2f / %.2f / %.2f"%(min(x),st.median(x),max(x)) if x else "-"
for bench in benches:
    print(bench)
    for b in builds:
        have=[r for r in rounds if (r,b,bench) in d]
        cpu=[d[(r,b,bench)][1] for r in have]; js=[d[(r,b,bench)][0] for r in have]
        line=f"  {b}: cpu µs/job {mm2(cpu)}  jobs/s med {st.median(js):.0f}" if have else f"  {b}: -"
        if bench!=plain:
            rr=[r for r in have if (r,b,plain) in d]
            rj=[d[(r,b,bench)][0]/d[(r,b,plain)][0] for r in rr]
            rc=[d[(r,b,plain)][1]/d[(r,b,bench)][1] for r in rr]
            line+=f"  ÷plain jobs/s {mmm(rj)}  ÷plain cpu {mmm(rc)}"
        print(line)
    for a,b in [('branch','main')]:
        rr=[r for r in rounds if (r,a,bench) in d and (r,b,bench) in d]
        if rr:
            print(f"  {a}/{b} same round: cpu {mmm([d[(r,a,bench)][1]/d[(r,b,bench)][1] for r in rr])}  jobs/s {mmm([d[(r,a,bench)][0]/d[(r,b,bench)][0] for r in rr])}")
print("enqueue cpu µs/job medians:")
for bench in benches:
    for b in builds:
        v=[d[(r,b,bench)][3] for r in rounds if (r,b,bench) in d]
        print(f"  {bench} {b}: {mm2(v)}")
    rr=[r for r in rounds if (r,'branch',bench) in d and (r,'main',bench) in d]
    print(f"  {bench} branch/main enqueue cpu: {mmm([d[(r,'branch',bench)][3]/d[(r,'main',bench)][3] for r in rr])}")
