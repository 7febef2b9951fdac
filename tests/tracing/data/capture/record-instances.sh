#!/bin/sh
# usage (as root): unshare -m ./capture-record.sh OUT.dat [record options...]
# `trace-cmd record -B memsim_test -e kmem:rss_stat -B memsim_pg -e kmem:mm_page_alloc` around
# ./work.sh.  The instances are made first with set_event_pid = the shell that runs ./work.sh
# (event-fork on), so only it and its children are traced.  In this private mount namespace a
# 2-line kallsyms (tracing_mark_write and the next symbol) is bound over /proc/kallsyms, and
# plain files over the function tracer's set_ftrace_pid/set_ftrace_filter, which this VM
# refuses (trace-cmd 3.1.6 crashes on that).
OUT=$1; shift
D=/sys/kernel/tracing
grep ' tracing_mark_write$' -A1 /proc/kallsyms > mini_kallsyms
mount --bind mini_kallsyms /proc/kallsyms
: > ftrace_stub
rm -f fifo; mkfifo fifo
sh -c 'read x < fifo; exec ./work.sh' &
SH=$!
for N in memsim_test memsim_pg; do
  T=$D/instances/$N
  mkdir $T
  echo 1 > $T/options/event-fork
  echo $SH > $T/set_event_pid
  for F in set_ftrace_pid set_ftrace_filter set_ftrace_notrace set_graph_function set_graph_notrace; do
    [ -e $T/$F ] && mount --bind ftrace_stub $T/$F
  done
done
for F in set_ftrace_pid set_ftrace_filter set_ftrace_notrace set_graph_function set_graph_notrace; do
  [ -e $D/$F ] && mount --bind ftrace_stub $D/$F
done
trace-cmd record -d -o $OUT "$@" -B memsim_test -e kmem:rss_stat -B memsim_pg -e kmem:mm_page_alloc > record.log 2>&1 &
REC=$!
sleep 2
echo go > fifo
wait $SH
sleep 0.5
kill -INT $REC
wait $REC
echo "record: exit $?" >> record.log
umount $D/set_ftrace_* $D/set_graph_* 2>/dev/null
for N in memsim_test memsim_pg; do
  T=$D/instances/$N
  umount $T/set_ftrace_* $T/set_graph_* 2>/dev/null
  rmdir $T
done
rm -f fifo ftrace_stub
