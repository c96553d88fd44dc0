#!/bin/sh
# cg2.sh BIN BENCH N TAG: callgrind of the burn-down phase only (instrumentation on once the jobs are enqueued)
cd /tmp/litekey
mark=/tmp/litekey/cg/$4.mark; rm -f $mark $mark.go
KILN_CG_MARK=$mark GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/litekey/cg/$4.out ./$1 -test.run '^$' -test.bench "$2" -test.benchtime ${3}x > /tmp/litekey/cg/$4.log 2>&1 &
vpid=$!
while [ ! -e $mark ]; do sleep 0.2; done
callgrind_control -i on $vpid > /dev/null
touch $mark.go
wait $vpid
tot=$(grep -E "^summary|^totals" /tmp/litekey/cg/$4.out | awk '{print $2}' | head -1)
echo "$4 N=$3 total $tot per-job $(echo "$tot/$3/1000" | bc -l | cut -c1-7)k" >> /tmp/litekey/cg/summary2.txt
