#!/usr/bin/env bash
# pgcost.sh: PostgreSQL instructions per job, by statement, counted under
# callgrind (docs/benchmarks.md, "Database instructions per job").
#
#   bench/scripts/pgcost.sh [storecost flags...]
#
# Starts (once) a private PostgreSQL 15 cluster under
# `valgrind --tool=callgrind --trace-children=yes` (autovacuum off,
# pg_stat_statements loaded; data in $PGCOST_DIR, default /tmp/pgcost, port
# $PGCOST_PORT, default 55484), then runs bench/cmd/storecost against it
# six times: $PGCOST_JOBS jobs (default 5000) and 1 job, each whole, with
# --insert-only and with --no-finish. storecost does
# all of a run's work on one connection, so one backend's callgrind file
# holds it; a run of N jobs less a run of 1 (the connection, the
# migrations, the schema's drop, the first run of each statement), over
# N - 1, is instructions per job. Prints insert, claim (--no-finish less
# --insert-only) and finish (whole less --no-finish) per job, and all three
# (with --partition-limit, which has no --no-finish run, claim and finish
# together: whole less --insert-only). Flags are passed to every run
# (e.g. --system floor, --partition-keys 1000 --partition-limit 1 [--hold 200],
# --rate-limit 1000000, --batch 85; --batch 180 --batch-alt 20 for the
# uneven claims of a real burn-down).
#
# Counts repeat within ~0.3 % whatever the load; since each count vacuums
# the cluster first, the 1-job runs repeat within ~0.5M instructions, 0.1k
# per job of a 5,000-job run (docs/benchmarks.md, "PostgreSQL: the checks
# and compared columns of kiln_job").
# PGCOST_WHOLE=1 makes only the two whole runs and prints "all" (a third
# of the time: for comparing variants). PGCOST_STOP=1 stops the cluster
# afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${PGCOST_DIR:-/tmp/pgcost}
port=${PGCOST_PORT:-55484}
jobs=${PGCOST_JOBS:-5000}
bin=/usr/lib/postgresql/15/bin
run_as() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else sh -c "$*"; fi; }

command -v valgrind >/dev/null || { echo "pgcost: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
if [ ! -d "$dir/data" ]; then
  mkdir -p "$dir/cg"
  [ "$(id -u)" = 0 ] && chown -R postgres "$dir"
  run_as "$bin/initdb -D $dir/data -U postgres -A trust" >/dev/null
  cat >>"$dir/data/postgresql.conf" <<EOF
autovacuum = off
shared_buffers = 128MB
shared_preload_libraries = 'pg_stat_statements'
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '/tmp'
EOF
fi
if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  run_as "valgrind --tool=callgrind --trace-children=yes --callgrind-out-file=$dir/cg/cg.%p $bin/postgres -D $dir/data >$dir/server.log 2>&1 &"
  for _ in $(seq 240); do "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.5; done
  "$bin/pg_isready" -h 127.0.0.1 -p "$port" >/dev/null || { echo "pgcost: the cluster did not start (see $dir/server.log)" >&2; exit 1; }
fi
# A server on the port that is not this script's, under callgrind, would
# leave no callgrind file: each count would wait and fail.
pgrep -f "valgrind.*postgres -D $dir/data" >/dev/null ||
  { echo "pgcost: the server on port $port is not $dir/data under valgrind: stop it, or set PGCOST_PORT" >&2; exit 1; }
db="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
go build -o "$dir/storecost" ./cmd/storecost

# count runs storecost once and prints its backend's instructions: those of
# the callgrind file of the backend whose PID storecost prints (a file found
# by its time could be the previous run's backend, which writes its file
# when it exits, after that run's storecost returned).
count() {
  local mark="$dir/mark.$$"
  # The catalogs bloat with each run's schema, created and dropped with
  # autovacuum off, and the next run's backend pays for reading the dead
  # rows and setting their hint bits: up to 95M instructions more in one
  # run of 1 job (19k per job of a 5,000-job count) before this VACUUM,
  # 0.2M after (docs/benchmarks.md, "PostgreSQL: the checks and
  # compared columns of kiln_job"). It runs on a backend of its own, not counted.
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c VACUUM >/dev/null
  touch "$mark"
  # shellcheck disable=SC2064 # the mark's name is fixed now
  trap "rm -f '$mark'" RETURN
  sleep 0.1
  "$dir/storecost" --database "$db" "$@" >"$dir/last.out" ||
    { echo "pgcost: storecost $* failed (see $dir/last.out)" >&2; return 1; }
  local pid n=""
  pid=$(sed -n 's/^backend pid \([0-9][0-9]*\)$/\1/p' "$dir/last.out" | head -1)
  [ -n "$pid" ] || { echo "pgcost: storecost $* printed no backend pid" >&2; return 1; }
  # The backend writes its file when the connection closes.
  for _ in $(seq 600); do
    # (newer than the mark: not a file of an earlier backend with this PID)
    [ "$dir/cg/cg.$pid" -nt "$mark" ] && n=$(grep -s '^totals' "$dir/cg/cg.$pid" | awk '{print $2}')
    [ -n "$n" ] && break
    sleep 0.5
  done
  [ -n "$n" ] || { echo "pgcost: no callgrind file for storecost $* (backend $pid)" >&2; return 1; }
  echo "$n"
}

# (Each count is checked: a failure inside $(...) would not stop the script.)
full_n=$(count --jobs "$jobs" "$@") || exit 1
full_1=$(count --jobs 1 "$@") || exit 1
if [ -n "${PGCOST_WHOLE:-}" ]; then
  python3 -c 'import sys; n, a, b = (int(x) for x in sys.argv[1:4]); label = sys.argv[4] or "(defaults)"; print(f"storecost {label}, {n} jobs: all {(a - b) / (n - 1) / 1000:.1f}k instructions per job ({a} less {b})")' \
    "$jobs" "$full_n" "$full_1" "$*"
  exit 0
fi
ins_n=$(count --jobs "$jobs" --insert-only "$@") || exit 1
ins_1=$(count --jobs 1 --insert-only "$@") || exit 1
# storecost's --partition-limit claims as jobs finish (a key's next job
# only once its running one is done), so it has no --no-finish run: its
# claim and finish are counted together.
case " $* " in
*" --partition-limit "*) nof_n=0 nof_1=0 ;;
*)
  nof_n=$(count --jobs "$jobs" --no-finish "$@") || exit 1
  nof_1=$(count --jobs 1 --no-finish "$@") || exit 1
  ;;
esac
python3 - "$jobs" "$full_n" "$full_1" "$ins_n" "$ins_1" "$nof_n" "$nof_1" "$*" <<'EOF'
import sys
n, full_n, full_1, ins_n, ins_1, nof_n, nof_1 = (int(x) for x in sys.argv[1:8])
flags = sys.argv[8]
per = lambda a, b: (a - b) / (n - 1) / 1000
insert = per(ins_n, ins_1)
total = per(full_n, full_1)
print(f"storecost {flags or '(defaults)'}, {n} jobs: instructions per job (k)")
if nof_n == 0:
    both = per(full_n - ins_n, full_1 - ins_1)  # whole less --insert-only
    print(f"  insert {insert:.1f}  claim and finish {both:.1f}  all {total:.1f}")
else:
    claim = per(nof_n - ins_n, nof_1 - ins_1)      # --no-finish less --insert-only
    finish = per(full_n - nof_n, full_1 - nof_1)   # whole less --no-finish
    print(f"  insert {insert:.1f}  claim {claim:.1f}  finish {finish:.1f}  all {total:.1f}")
EOF
if [ "${PGCOST_STOP:-}" = 1 ]; then run_as "$bin/pg_ctl -D $dir/data stop -m fast" >/dev/null; fi
