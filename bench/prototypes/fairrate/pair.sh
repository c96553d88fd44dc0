#!/bin/sh
# fairrate-pair.sh ROUNDS "builds" bench1 bench2 ...: bench/scripts/pairbench.sh
# with this prototype's binaries, /tmp/fairrate-<build>.test (the script that
# made the figures here, folded into pairbench.sh since).
R=$1; BUILDS=$2; shift 2
exec "$(dirname "$0")/../../scripts/pairbench.sh" "$R" /tmp/fairrate-%s.test "$BUILDS" "$@"
