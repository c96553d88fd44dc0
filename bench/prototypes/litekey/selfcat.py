import sys,re
def cats(fn):
    d={}
    for line in open(fn):
        m=re.match(r'\s*([\d,]+)\s+\([ \d.]+%\)\s+(.*)',line)
        if not m: continue
        n=int(m.group(1).replace(',',''))
        name=m.group(2)
        if 'PROGRAM TOTALS' in name: continue
        if 'modernc.org/sqlite/lib.' in name: c='sqlite engine (modernc lib)'
        elif 'modernc.org/libc' in name or 'modernc.org/memory' in name: c='modernc libc/memory'
        elif 'modernc.org/sqlite.' in name: c='modernc driver'
        elif 'database/sql' in name: c='database/sql'
        elif re.search(r'runtime\.(gc|mark|scan|greyobject|findObject|heapBits|wbBuf|bulkBarrier|sweep|typePointers|spanOf|markBits|tryDeferToSpanScan|gcDrain|scanobject|scanblock|scanstack|pcvalue|funcInfo|step|gentraceback|(\(\*unwinder\)))',name) or 'runtime.(*gcWork)' in name or 'runtime.(*mspan)' in name or 'runtime.(*gcBits)' in name: c='runtime GC'
        elif re.search(r'runtime\.(mallocgc|memclr|nextFreeFast|(\(\*mcache\))|(\(\*mcentral\))|(\(\*mheap\))|makeslice|growslice|newobject|mallocgcSmall|mallocgcTiny|heapSetType|rawstring|rawbyteslice|convT|stringtoslicebyte|slicebytetostring|concatstring)',name): c='runtime alloc'
        elif 'runtime.' in name or 'internal/runtime' in name or 'internal/sync' in name or 'sync.' in name or 'sync/atomic' in name: c='runtime other (sched, locks, memmove, maps)'
        elif 'kilnjobs/kiln' in name: c='kiln'
        elif '???' in name or 'vdso' in name: c='other'
        else: c='other Go (std)'
        d[c]=d.get(c,0)+n
    return d
files=sys.argv[2:]; N=int(sys.argv[1])
ds=[cats(f) for f in files]
keys=sorted(set(k for d in ds for k in d), key=lambda k:-ds[0].get(k,0))
print('%-45s'%'category'+''.join('%10s'%f.split('.')[0] for f in files))
for k in keys:
    print('%-45s'%k+''.join('%9.1fk'%(d.get(k,0)/N/1000) for d in ds))
print('%-45s'%'total'+''.join('%9.1fk'%(sum(d.values())/N/1000) for d in ds))
