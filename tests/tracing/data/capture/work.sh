#!/bin/sh
# a small program: a marker, dd with a 1 MiB buffer twice, a marker
for T in /sys/kernel/tracing/instances/memsim_*; do echo "memsim start" > $T/trace_marker; done
dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null
dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null
for T in /sys/kernel/tracing/instances/memsim_*; do echo "memsim end" > $T/trace_marker; done
