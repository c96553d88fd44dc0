import statistics as st, sys
d={}
for l in open(sys.argv[1]):
    f=l.split()
    r,b,load=f[0],f[1],float(f[2])
    claim=float(f[f.index('claim-cpu-µs/job')-1]); fin=float(f[f.index('finish-cpu-µs/job')-1]); pw=float(f[f.index('pages-written/job')-1])
    d[(r,b)]=(claim,fin,pw,load)
rs=sorted(set(k[0] for k in d),key=int)
def mmm(x): return "%.3f / %.3f / %.3f"%(min(x),st.median(x),max(x))
print("load %.1f-%.1f"%(min(v[3] for v in d.values()), max(v[3] for v in d.values())), len(rs), "rounds")
print("claim cpu after/before", mmm([d[(r,'after')][0]/d[(r,'before')][0] for r in rs]))
print("finish cpu after/before", mmm([d[(r,'after')][1]/d[(r,'before')][1] for r in rs]))
for b in ['before','after']:
    print(b, "claim µs/job", mmm([d[(r,b)][0] for r in rs]), "pages written", mmm([d[(r,b)][2] for r in rs]))
