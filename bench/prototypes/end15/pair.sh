#!/bin/sh
# pair15.sh ROUNDS OUT: SQLite burn-downs, before vs after, alternating.
R=${1:-6}; OUT=${2:-/tmp/pair15.out}; B=/tmp/remeasure-bin
: > $OUT
for r in $(seq $R); do
  if [ $((r % 2)) = 1 ]; then order="before after"; else order="after before"; fi
  for bench in 'BurnDown$' 'BurnDownPartitionLimit$'; do
    for v in $order; do
      echo "== r$r $v $bench load $(cut -d' ' -f1 /proc/loadavg)" >> $OUT
      (cd /tmp && $B/kiln_$v.test -test.run '^$' -test.bench "$bench" -test.benchtime 50000x -test.count 1 2>&1 | grep -E "ns/op") >> $OUT
    done
  done
done
