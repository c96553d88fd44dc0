#!/bin/sh
# PgBouncer (Debian's pgbouncer package, 1.18: apt-get install -y pgbouncer)
# in transaction-pooling mode on 127.0.0.1:6432, in front of the local
# PostgreSQL at 127.0.0.1:5432 (trust auth), to run Kiln behind it.
#
#   bench/pgbouncer/run.sh start           start it (config: pgbouncer.ini, run files in $RUN_DIR)
#   bench/pgbouncer/run.sh stop            stop it
#   bench/pgbouncer/run.sh pools           SHOW POOLS on its admin console
#   bench/pgbouncer/run.sh bench [MODE] [compare flags...]
#       start it, run Kiln's enqueue, burn-down and latency through it
#       (go run ./cmd/compare --systems kiln --rounds 1 ...), stop it.
#       MODE sets pgx's default_query_exec_mode in the URL: cache_statement
#       (pgx's default: named prepared statements), exec, describe_exec,
#       cache_describe or simple_protocol; "default" leaves the URL as is.
#
# Environment: RUN_DIR (default /tmp/kiln-pgbouncer), PGBOUNCER_USER (the
# user it runs as when started by root, which PgBouncer refuses to run as;
# default postgres).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
RUN_DIR=${RUN_DIR:-/tmp/kiln-pgbouncer}
PGBOUNCER_USER=${PGBOUNCER_USER:-postgres}
PORT=6432

start() {
	mkdir -p "$RUN_DIR"
	sed "s|@RUN_DIR@|$RUN_DIR|g" "$here/pgbouncer.ini" > "$RUN_DIR/pgbouncer.ini"
	cp "$here/userlist.txt" "$RUN_DIR/userlist.txt"
	if [ -f "$RUN_DIR/pgbouncer.pid" ] && kill -0 "$(cat "$RUN_DIR/pgbouncer.pid")" 2>/dev/null; then
		echo "pgbouncer already runs (pid $(cat "$RUN_DIR/pgbouncer.pid"))"
		return
	fi
	if [ "$(id -u)" = 0 ]; then
		chown -R "$PGBOUNCER_USER" "$RUN_DIR"
		pgbouncer -d -u "$PGBOUNCER_USER" "$RUN_DIR/pgbouncer.ini"
	else
		pgbouncer -d "$RUN_DIR/pgbouncer.ini"
	fi
	i=0
	until psql -h 127.0.0.1 -p $PORT -U postgres -d pgbouncer -Atc 'SHOW VERSION' >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			echo "pgbouncer did not answer on port $PORT; its log:" >&2
			cat "$RUN_DIR/pgbouncer.log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
	echo "pgbouncer $(pgbouncer --version | head -1 | cut -d' ' -f2) runs on 127.0.0.1:$PORT (pid $(cat "$RUN_DIR/pgbouncer.pid"), pool_mode transaction; log $RUN_DIR/pgbouncer.log)"
}

stop() {
	if [ -f "$RUN_DIR/pgbouncer.pid" ]; then
		pid=$(cat "$RUN_DIR/pgbouncer.pid")
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
			i=$((i + 1))
			sleep 0.1
		done
		rm -f "$RUN_DIR/pgbouncer.pid"
		echo "pgbouncer stopped"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
pools) psql -h 127.0.0.1 -p $PORT -U postgres -d pgbouncer -c 'SHOW POOLS' ;;
bench)
	shift
	mode=${1:-default}
	[ $# -gt 0 ] && shift
	url="postgres://postgres@127.0.0.1:$PORT/test?sslmode=disable"
	case "$mode" in
	default) ;;
	cache_statement | exec | describe_exec | cache_describe | simple_protocol)
		url="$url&default_query_exec_mode=$mode" ;;
	*)
		echo "run.sh bench: unknown mode $mode" >&2
		exit 2 ;;
	esac
	start
	trap stop EXIT
	echo "compare --systems kiln --database $url $*"
	(cd "$here/.." && go run ./cmd/compare --systems kiln --rounds 1 --database "$url" "$@")
	;;
*)
	sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//;/^set -eu/d'
	exit 2 ;;
esac
