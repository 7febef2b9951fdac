#!/bin/sh
# usage (as root): ./capture-text.sh OUT.txt
# the kernel's `trace` file of instance memsim_test (kmem:rss_stat of ./work.sh and its
# children, and the trace_marker lines ./work.sh writes)
T=/sys/kernel/tracing/instances/memsim_test
mkdir $T
echo 0 > $T/tracing_on
echo 1 > $T/options/event-fork
echo kmem:rss_stat > $T/set_event
sh -c "echo \$\$ > $T/set_event_pid; echo > $T/trace; echo 1 > $T/tracing_on; exec ./work.sh"
echo 0 > $T/tracing_on
cat $T/trace > $1
echo > $T/set_event
rmdir $T
