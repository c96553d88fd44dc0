#!/bin/bash
# tri.sh <rounds> <out>: per round, main per key, branch per key, branch plain (compare, private cluster); order reversed every other round.
DB='postgres://postgres@127.0.0.1:55971/test?sslmode=disable'
rounds=$1; out=$2
vac() { psql -q "$DB" -c "VACUUM pg_attribute" -c "VACUUM pg_class" -c "VACUUM pg_depend" -c "VACUUM pg_type" -c "VACUUM pg_index" -c "VACUUM pg_constraint" -c "VACUUM pg_attrdef" >/dev/null; }
run() { # label round bin args
  local l rd b out; vac
  l=$1; rd=$2; b=$3; shift 3
  out=$($b --database "$DB" --jobs 50000 --workers 200 --max-conns 4 --rounds 1 --samples 0 --systems kiln "$@" 2>&1)
  echo "$l r$rd $(cut -d' ' -f1 /proc/loadavg) $(echo "$out" | grep 'burn-down (jobs/s)' | head -1 | awk -F'|' '{print $3}' | tr -d ' ,/s') $(echo "$out" | grep 'CPU per job, this process' | awk -F'|' '{print $3}' | tr -d ' µs') $(echo "$out" | grep 'CPU per job, db server' | awk -F'|' '{print $3}' | tr -d ' µs') $(echo "$out" | grep 'CPU per job, total' | awk -F'|' '{print $3}' | tr -d ' µs')"
}
for r in $(seq $rounds); do
  if [ $((r%2)) = 1 ]; then order="mainpk branchpk branchplain"; else order="branchplain branchpk mainpk"; fi
  for m in $order; do
    case $m in
    mainpk) run mainpk $r /tmp/pgclient/cmp_main --kiln-partition-keys 1000 --kiln-partition-limit 1 ;;
    branchpk) run branchpk $r /tmp/pgclient/cmp_branch --kiln-partition-keys 1000 --kiln-partition-limit 1 ;;
    branchplain) run branchplain $r /tmp/pgclient/cmp_branch ;;
    esac
  done
done >> $out
