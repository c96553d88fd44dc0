#!/bin/sh
# usage: pair.sh ROUNDS BENCHTIME BUILDS BENCH... ; runs each build x bench in turn per round
R=$1; N=$2; B=$3; shift 3
cd /tmp/litepark
for r in $(seq 1 $R); do
  for b in $B; do
    for bench in "$@"; do
      l=$(cut -d' ' -f1 /proc/loadavg)
      out=$(./$b.test -test.run '^$' -test.bench "^$bench\$" -test.benchtime ${N}x 2>&1 | python3 -c '
import sys,re
t=sys.stdin.read()
j=re.search(r"([0-9.]+) jobs/s",t); c=re.search(r"([0-9.]+) cpu-µs/job",t)
print("jobs/s=%s cpu=%s" % (j.group(1) if j else "ERR", c.group(1) if c else "ERR") + ("" if j else " "+t[-300:].replace("\n"," | ")))')
      echo "r$r $b $bench load=$l $out"
    done
  done
done
