#!/usr/bin/env python3
"""Count goroutine wake-ups per job in a Go execution trace.

    /tmp/k.test -test.run '^$' -test.bench 'BenchmarkBurnDownPostgres$' \
        -test.benchtime 30000x -test.trace /tmp/k.trace
    go tool trace -d=parsed /tmp/k.trace > /tmp/k.parsed
    python3 bench/scripts/wakeups.py /tmp/k.parsed 30000

Prints, per job: the Ps that went from idle to running, the goroutines made
runnable (Waiting->Runnable) by the first frame of the unblocking stack
that is not the runtime's or the standard library's ("?": no stack, the
network poller or a timer), and the goroutines that blocked
(Running->Waiting) by reason and frame. The trace covers the whole
benchmark, enqueue included (a few hundred events for 30,000 jobs).
"""
import collections
import re
import sys

RUNTIME = ("runtime.", "internal/", "sync.", "time.", "context.")


def frame(stack):
    """The first frame of stack outside the runtime and the standard library."""
    for fn in stack:
        if fn.startswith(RUNTIME) and not fn.startswith("internal/poll"):
            continue
        return fn
    return stack[0] if stack else "?"


def count(lines):
    unblock, block = collections.Counter(), collections.Counter()
    procs = 0
    event, stack = None, []

    def flush():
        if event is None:
            return
        kind, line = event
        if kind == "unblock":
            unblock[frame(stack)] += 1
        else:
            block[(re.search(r'Reason="([^"]*)"', line).group(1), frame(stack))] += 1

    for line in lines:
        if line.startswith("M="):
            flush()
            event, stack = None, []
            if "StateTransition" in line and "GoID=" in line:
                if "Waiting->Runnable" in line:
                    event = ("unblock", line)
                elif "Running->Waiting" in line:
                    event = ("block", line)
            elif "StateTransition" in line and "ProcID=" in line and "Idle->Running" in line:
                procs += 1
        elif event is not None and line.startswith("\t") and not line.startswith("\t\t"):
            stack.append(line.strip().split(" @ ")[0])
    flush()
    return procs, unblock, block


def main():
    path, jobs = sys.argv[1], int(sys.argv[2])
    with open(path) as f:
        procs, unblock, block = count(f)
    print("P idle->running per job: %.3f" % (procs / jobs))
    print("goroutines made runnable per job: %.3f, by" % (sum(unblock.values()) / jobs))
    for k, v in unblock.most_common(12):
        print("  %.4f %s" % (v / jobs, k))
    print("goroutines blocked per job: %.3f, by" % (sum(block.values()) / jobs))
    for (reason, fn), v in block.most_common(12):
        print("  %.4f %-14s %s" % (v / jobs, reason, fn))


if __name__ == "__main__":
    main()
