#!/bin/bash
# Times PostgreSQL migrations 007 to 010 on a schema holding N jobs (70 %
# completed, 20 % available, 10 % scheduled, 1 % tagged), each run as
# Migrate runs it (007-009 in one transaction each, 010 statement by
# statement), and times an insert that another session starts 1 s after
# each migration began: how long writers wait. docs/upgrading.md has the
# figures. Needs psql and bc; the schema kiln_migcost is dropped at the end.
#
#   bench/migratecost/run.sh [N] [DATABASE_URL]
set -e
N=${1:-1000000}
U=${2:-'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'}
S=kiln_migcost
M=$(cd "$(dirname "$0")/../../store/postgres/migrations" && pwd)
psql "$U" -qc "DROP SCHEMA IF EXISTS $S CASCADE; CREATE SCHEMA $S"
for f in $M/00[1-6]*.sql; do sed "s/{s}/$S/g" $f | psql "$U" -q -v ON_ERROR_STOP=1 -1 >/dev/null; done
psql "$U" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO $S.kiln_job (kind, queue, args, state, priority, attempt, max_attempts, created_at, scheduled_at, finalized_at, tags)
SELECT 'k' || (g % 10), 'q' || (g % 3), '{"n": 1}', CASE WHEN g % 10 < 7 THEN 'completed' WHEN g % 10 < 9 THEN 'available' ELSE 'scheduled' END,
  1, 1, 3, now(), now(), CASE WHEN g % 10 < 7 THEN now() END, CASE WHEN g % 100 = 0 THEN '{t1,t2}'::text[] ELSE '{}' END
FROM generate_series(1, $N) g;
VACUUM ANALYZE $S.kiln_job;
SQL
psql "$U" -Atc "SELECT pg_size_pretty(pg_total_relation_size('$S.kiln_job')), pg_size_pretty(pg_relation_size('$S.kiln_job'))"
probe() { # a concurrent insert, timed, started 1 s after the migration
  sleep 1; s=$(date +%s.%N)
  psql "$U" -qc "INSERT INTO $S.kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at) VALUES ('p','p','{}','available',1,1,now(),now())" >/dev/null
  e=$(date +%s.%N); echo "  concurrent insert waited $(echo "$e - $s" | bc) s"
}
for v in 007 008 009; do
  probe & P=$!
  s=$(date +%s.%N); sed "s/{s}/$S/g" $M/${v}_*.sql | psql "$U" -q -v ON_ERROR_STOP=1 -1 >/dev/null; e=$(date +%s.%N)
  echo "$v: $(echo "$e - $s" | bc) s"; wait $P
done
probe & P=$!
s=$(date +%s.%N)
# psql sends each statement on its own, outside a transaction block.
sed "s/{s}/$S/g" $M/010_*.sql | psql "$U" -q -v ON_ERROR_STOP=1 >/dev/null
e=$(date +%s.%N); echo "010: $(echo "$e - $s" | bc) s"; wait $P
psql "$U" -qc "DROP SCHEMA $S CASCADE"
