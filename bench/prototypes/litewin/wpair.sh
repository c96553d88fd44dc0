#!/bin/sh
# paired BenchmarkWriterPerJob of store/sqlite: before/after alternately, order reversed every other round
R=$1
for r in $(seq 1 $R); do
  if [ $((r % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
  for b in $order; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    out=$(cd /tmp && /tmp/litewin-sq-$b.test -test.run '^$' -test.bench '^BenchmarkWriterPerJob$' -test.benchtime 20000x 2>&1 | grep 'ns/op')
    echo "$r $b $load $out"
  done
done
