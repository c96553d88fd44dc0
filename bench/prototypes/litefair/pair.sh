#!/bin/sh
# litefair-pair.sh ROUNDS "builds" bench1 bench2 ...: bench/scripts/pairbench.sh
# with this prototype's binaries, /tmp/litefair-<build>.test (the script
# that made the figures here, folded into pairbench.sh since; it reversed
# the benchmarks of even rounds, as pairbench.sh does, and printed a
# failed run's figures empty where pairbench.sh prints 0).
R=$1; BUILDS=$2; shift 2
BENCHTIME=50000x exec "$(dirname "$0")/../../scripts/pairbench.sh" "$R" /tmp/litefair-%s.test "$BUILDS" "$@"
