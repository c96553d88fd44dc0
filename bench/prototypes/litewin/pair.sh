#!/bin/sh
# fairrate-pair.sh ROUNDS "builds" bench1 bench2 ...: per round, each build's benchmarks in turn
# (order of builds and benchmarks reversed on even rounds), 1-minute load before each run.
# Prints: round build bench load jobs/s cpu-us/job enq-us/job enq-cpu-us/job (0: not reported)
R=$1; BUILDS=$2; shift 2
for r in $(seq 1 $R); do
  if [ $((r % 2)) -eq 1 ]; then order="$BUILDS"; else order=$(echo $BUILDS | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for b in $order; do
    if [ $((r % 2)) -eq 1 ]; then benches="$*"; else benches=$(echo "$@" | tr ' ' '\n' | tac | tr '\n' ' '); fi
    for bench in $benches; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      out=$(cd /tmp && timeout 300 /tmp/litewin-$b.test -test.run '^$' -test.bench "^$bench\$" -test.benchtime 50000x 2>&1 | grep 'jobs/s')
      echo "$r $b $bench $load $(echo "$out" | awk '{j=0;c=0;e=0;ec=0;for(i=1;i<=NF;i++){if($(i+1)=="jobs/s")j=$i; if($(i+1)=="cpu-µs/job")c=$i; if($(i+1)=="enqueue-µs/job")e=$i; if($(i+1)=="enqueue-cpu-µs/job")ec=$i}} END{print j+0, c+0, e+0, ec+0}')"
    done
  done
done
