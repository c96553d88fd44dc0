#!/bin/bash
# benchtri.sh <rounds> <out>: root-package burn-downs on PostgreSQL (this process's CPU and allocations only):
# per round main per key, branch per key, branch plain; order reversed every other round.
export KILN_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:55971/test?sslmode=disable'
rounds=$1; out=$2
run() { local l=$1 rd=$2 bin=$3 bench=$4 res; res=$($bin -test.run '^$' -test.bench "^$bench\$" -test.benchtime 50000x -test.benchmem 2>&1 | grep allocs/op); echo "$l r$rd $(cut -d' ' -f1 /proc/loadavg) $res"; }
for rd in $(seq $rounds); do
  if [ $((rd%2)) = 1 ]; then order="mainpk branchpk branchplain"; else order="branchplain branchpk mainpk"; fi
  for m in $order; do
    case $m in
    mainpk) run mainpk $rd /tmp/pgclient/kiln_main.test BenchmarkBurnDownPostgresPartitionLimit ;;
    branchpk) run branchpk $rd /tmp/pgclient/kiln_branch.test BenchmarkBurnDownPostgresPartitionLimit ;;
    branchplain) run branchplain $rd /tmp/pgclient/kiln_branch.test BenchmarkBurnDownPostgresArgs ;;
    esac
  done
done >> $out
