#!/bin/sh
# run.sh [N] [BATCH]: builds the harness, migrates an empty database with
# this checkout's kiln, and runs the harness under callgrind; prints the
# instructions of each phase (ph_insert, ph_select, ph_update, ph_finish,
# ph_commit) and the harness's own counts per job. Needs gcc, libsqlite3-dev
# and valgrind. TEMPLATE=file runs on a copy of that database instead;
# SQLDIR=dir reads the statements from dir instead of sql.
set -e
N=${1:-20000}
B=${2:-100}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
gcc -O2 -g -o "$tmp/harness" "$here/harness.c" -lsqlite3
if [ -z "$TEMPLATE" ]; then
	(cd "$here/../.." && go run ./cmd/kiln migrate --database "$tmp/template.db" >/dev/null)
	TEMPLATE=$tmp/template.db
fi
cp "$TEMPLATE" "$tmp/run.db"
valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out" --collect-atstart=no \
	--toggle-collect=run_burn --toggle-collect=ph_insert \
	"$tmp/harness" "$tmp/run.db" "$N" "$B" "${SQLDIR:-$here/sql}" 2>/dev/null
callgrind_annotate --inclusive=yes --threshold=100 "$tmp/callgrind.out" 2>/dev/null |
	awk -v n="$N" '/harness.c:ph_[a-z]+ \[/ { gsub(",", "", $1); for (i = 2; i <= NF; i++) if ($i ~ /harness.c:ph_/) { sub(".*harness.c:", "", $i); printf "%-10s %8.1fk instructions/job\n", $i, $1 / n / 1000 } }'
rm -rf "$tmp"
