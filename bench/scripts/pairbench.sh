#!/bin/sh
# pairbench.sh: paired runs of Go benchmarks in several builds' test
# binaries (docs/benchmarks.md: ratios within a round, min/median/max).
#
#   bench/scripts/pairbench.sh ROUNDS BINARY_PATTERN "BUILDS" BENCH...
#
# BINARY_PATTERN names each build's test binary with %s for the build,
# e.g. /tmp/x-%s.test for BUILDS "before after" (build them with
# `go test -c -o /tmp/x-before.test .`). Per round, each build runs every
# BENCH in turn (`-test.bench ^BENCH$`, `-test.benchtime` $BENCHTIME,
# default 50000x, from /tmp); odd rounds go in the given order and even
# rounds in reverse, builds and benchmarks both. Prints one line per run:
#
#   round build bench load jobs/s cpu-µs/job enqueue-µs/job enqueue-cpu-µs/job
#
# with the 1-minute load average before the run and 0 for a figure the
# benchmark did not report (a run that failed prints jobs/s 0). The
# summaries under bench/prototypes (summary.py) read these lines.
R=$1; PATTERN=$2; BUILDS=$3; shift 3
reverse() { echo "$@" | tr ' ' '\n' | tac | tr '\n' ' '; }
for r in $(seq 1 "$R"); do
  if [ $((r % 2)) -eq 1 ]; then order="$BUILDS"; benches="$*"; else order=$(reverse $BUILDS); benches=$(reverse "$@"); fi
  for b in $order; do
    bin=$(printf "$PATTERN" "$b")
    for bench in $benches; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      out=$(cd /tmp && timeout 300 "$bin" -test.run '^$' -test.bench "^$bench\$" -test.benchtime "${BENCHTIME:-50000x}" 2>&1 | grep 'jobs/s')
      echo "$r $b $bench $load $(echo "$out" | awk '{j=0;c=0;e=0;ec=0;for(i=1;i<=NF;i++){if($(i+1)=="jobs/s")j=$i; if($(i+1)=="cpu-µs/job")c=$i; if($(i+1)=="enqueue-µs/job")e=$i; if($(i+1)=="enqueue-cpu-µs/job")ec=$i}} END{print j+0, c+0, e+0, ec+0}')"
    done
  done
done
