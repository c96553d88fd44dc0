#!/bin/sh
# litefair-pair.sh ROUNDS "builds" bench1 bench2 ...: per round, each build's benchmarks in turn
# (order reversed on even rounds), load before each run. Prints: round build bench load jobs/s cpu-us/job enq-us/job enq-cpu-us/job
R=$1; BUILDS=$2; shift 2
for r in $(seq 1 $R); do
  if [ $((r % 2)) -eq 1 ]; then order="$BUILDS"; else order=$(echo $BUILDS | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for b in $order; do
    if [ $((r % 2)) -eq 1 ]; then benches="$*"; else benches=$(echo "$@" | tr ' ' '\n' | tac | tr '\n' ' '); fi
    for bench in $benches; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      out=$(cd /tmp && timeout 180 /tmp/litefair-$b.test -test.run '^$' -test.bench "^$bench\$" -test.benchtime 50000x 2>&1 | grep 'jobs/s')
      echo "$r $b $bench $load $(echo "$out" | awk '{for(i=1;i<=NF;i++){if($(i+1)=="jobs/s")j=$i; if($(i+1)=="cpu-µs/job")c=$i; if($(i+1)=="enqueue-µs/job")e=$i; if($(i+1)=="enqueue-cpu-µs/job")ec=$i}} END{print j, c, e, ec}')"
    done
  done
done
