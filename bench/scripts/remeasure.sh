#!/usr/bin/env bash
# remeasure.sh: the quiet re-measurement of issues 11 and 13 that a session
# runs after its changes have landed (docs/benchmarks.md, "Re-measurement"
# sections). About 25 minutes on a quiet 2-core machine.
#
#   bench/scripts/remeasure.sh BEFORE_COMMIT [OUT_FILE] [SECTIONS]
#
# BEFORE_COMMIT is the build compared against (usually the session's start);
# the after build is the checkout this script is in. SECTIONS is a
# space-separated subset of: flowpg keys100 flowlite litekeys pairs krf burn
# litepairs continuous million scale (default: all). Every run is preceded by a VACUUM of the
# test database's catalogs (every benchmark creates and drops a schema, and a
# bloated pg_attribute made CPU per job drift upward run after run), and the
# before/after pairs alternate their order (A B, then B A). FLOW_ROUNDS
# (default 5) is the rounds of the flowpg section (plain, per-key, rate),
# LITE_ROUNDS (default 3) those of the flowlite section.
set -euo pipefail
before=${1:?usage: remeasure.sh BEFORE_COMMIT [OUT_FILE] [SECTIONS]}
out=${2:-/tmp/remeasure.out}
sections=${3:-"flowpg keys100 flowlite litekeys pairs krf burn litepairs continuous million scale"}
db=${KILN_BENCH_DATABASE:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=/tmp/remeasure-bin
mkdir -p "$bin"

build() { # build <tree> <suffix>
	(cd "$1/bench" && go build -o "$bin/compare_$2" ./cmd/compare && go build -o "$bin/scale_$2" ./cmd/scale)
	(cd "$1" && go test -c -o "$bin/kiln_$2.test" .)
}
build "$root" after
if [ ! -x "$bin/kiln_before.test" ] || [ "$(cat "$bin/before.commit" 2>/dev/null)" != "$before" ]; then
	tree=/tmp/remeasure-before
	git -C "$root" worktree remove --force "$tree" 2>/dev/null || true
	git -C "$root" worktree add --detach "$tree" "$before" >/dev/null
	build "$tree" before
	git -C "$root" worktree remove --force "$tree"
	echo "$before" >"$bin/before.commit"
fi

vacuum() {
	psql -q "$db" -c "VACUUM pg_attribute" -c "VACUUM pg_class" -c "VACUUM pg_depend" \
		-c "VACUUM pg_type" -c "VACUUM pg_index" -c "VACUUM pg_constraint" -c "VACUUM pg_attrdef" >/dev/null
}
log() { # log <label> <command...>
	vacuum
	echo "=== $1 | $(date -u +%H:%M:%S) | load $(cut -d' ' -f1-3 /proc/loadavg) | $(git -C "$root" rev-parse --short HEAD)"
	shift
	"$@" 2>&1
	echo "=== end | $(date -u +%H:%M:%S) | load $(cut -d' ' -f1-3 /proc/loadavg)"
}
cmp() { "$bin/compare_$1" --database "$db" "${@:2}"; }
lite() { # lite <build> <bench regexp> <benchtime>
	(cd "$root" && "$bin/kiln_$1.test" -test.run '^$' -test.bench "$2" -test.benchtime "$3" -test.benchmem)
}
has() { [[ " $sections " == *" $1 "* ]]; }

{
echo "remeasure: after $(git -C "$root" rev-parse --short HEAD), before $before, $(date -u)"
if has flowpg; then
	flow() { # flow <plain|perkey|rate> <round>
		case $1 in
		plain) log "flowpg plain r$2" cmp after --jobs 50000 --workers 200 --max-conns 4 --rounds 1 --samples 0 --systems kiln ;;
		perkey) log "flowpg perkey r$2" cmp after --jobs 50000 --workers 200 --max-conns 4 --rounds 1 --samples 0 --systems kiln --kiln-partition-keys 1000 --kiln-partition-limit 1 ;;
		rate) log "flowpg rate r$2" cmp after --jobs 50000 --workers 200 --max-conns 4 --rounds 1 --samples 0 --systems kiln --kiln-rate-limit 10000000 ;;
		esac
	}
	# Even rounds run the three in reverse order.
	for r in $(seq "${FLOW_ROUNDS:-5}"); do
		if [ $((r % 2)) = 1 ]; then order="plain perkey rate"; else order="rate perkey plain"; fi
		for f in $order; do flow "$f" "$r"; done
	done
fi
if has keys100; then
	# Fewer keys than workers under a per-key limit: every claim comes back
	# short, so the burn-down's pace is how soon the next claim follows.
	for p in 1 2 3; do
		if [ $((p % 2)) = 1 ]; then order="before after"; else order="after before"; fi
		for b in $order; do
			log "keys100 $b p$p" cmp "$b" --jobs 20000 --workers 200 --max-conns 4 --rounds 1 --samples 0 --systems kiln --kiln-partition-keys 100 --kiln-partition-limit 1
		done
	done
fi
if has flowlite; then
	# Even rounds run the four in reverse order, as flowpg's.
	for r in $(seq "${LITE_ROUNDS:-3}"); do
		if [ $((r % 2)) = 1 ]; then order="BurnDown BurnDownPartitionLimit BurnDownRateLimited BurnDownRateLimitedPerKey"
		else order="BurnDownRateLimitedPerKey BurnDownRateLimited BurnDownPartitionLimit BurnDown"; fi
		for b in $order; do
			b="Benchmark$b\$"
			log "flowlite $b r$r" lite after "$b" 50000x
		done
	done
fi
if has litekeys; then
	# SQLite burn-downs, plain and per key (1,000 keys, limit 1), in both
	# builds: per key ÷ plain of each build, and after ÷ before of each
	# benchmark, within a round. Even rounds run in reverse order.
	for r in $(seq "${LITE_ROUNDS:-3}"); do
		if [ $((r % 2)) = 1 ]; then order="before:BurnDown before:BurnDownPartitionLimit after:BurnDown after:BurnDownPartitionLimit"
		else order="after:BurnDownPartitionLimit after:BurnDown before:BurnDownPartitionLimit before:BurnDown"; fi
		for o in $order; do
			log "litekeys ${o%%:*} Benchmark${o#*:}\$ r$r" lite "${o%%:*}" "Benchmark${o#*:}\$" 50000x
		done
	done
fi
if has pairs; then
	for p in 1 2 3 4; do
		if [ $((p % 2)) = 1 ]; then order="before after"; else order="after before"; fi
		for b in $order; do
			log "pairs $b p$p" cmp "$b" --jobs 100000 --rounds 1 --samples 600 --systems kiln
		done
	done
fi
if has krf; then
	log "krf" cmp after --max-conns 4 --jobs 100000 --rounds 2 --samples 200 --systems kiln,river,floor --river-fetch-cooldown 1ms --river-poll-interval 20ms
fi
if has burn; then
	# krf's burn-down ratios again without its latency phases (River's take
	# minutes), so that Kiln ÷ River and Kiln ÷ floor have four more rounds.
	log "burn" cmp after --max-conns 4 --jobs 100000 --rounds 4 --samples 0 --systems kiln,river,floor --river-fetch-cooldown 1ms --river-poll-interval 20ms
fi
if has litepairs; then
	for p in 1 2 3 4 5 6; do
		if [ $((p % 2)) = 1 ]; then order="before after"; else order="after before"; fi
		for b in $order; do
			log "litepairs $b p$p" lite "$b" 'BenchmarkBurnDown$' 100000x
		done
	done
fi
if has continuous; then
	log "continuous" cmp after --max-conns 4 --systems kiln,river,floor --duration 30s --rounds 2 --river-fetch-cooldown 1ms --river-poll-interval 20ms
fi
if has million; then
	log "million" cmp after --max-conns 4 --jobs 1000000 --rounds 1 --samples 0 --systems kiln,river --river-fetch-cooldown 1ms --river-poll-interval 20ms
fi
if has scale; then
	log "scale" "$bin/scale_after" --database "$db"
fi
} | tee "$out"
