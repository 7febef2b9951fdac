#!/bin/sh
# run_munmap_free_path.sh NPAGES ADDR MODE OUTDIR: run munmap_free_path.c under a throw-away tracefs
# instance (removed again even when the probe fails) and leave OUTDIR/trace.txt, OUTDIR/pfns.txt and
# OUTDIR/out.txt.  Run as root; the binary is expected next to this script (gcc -O1 -o
# munmap_free_path munmap_free_path.c).
set -u
N=$1; ADDR=$2; MODE=$3; OUT=$4
HERE=$(dirname "$0")
T=/sys/kernel/tracing/instances/munmap-free-path-$$
mkdir -p "$OUT"
mkdir "$T" || exit 1
trap 'echo 0 > "$T/tracing_on"; rmdir "$T"' EXIT INT TERM
echo 0 > "$T/tracing_on"
echo 262144 > "$T/buffer_size_kb"
for e in kmem/mm_page_alloc kmem/mm_page_free kmem/mm_page_free_batched kmem/mm_page_pcpu_drain \
         kmem/rss_stat pagemap/mm_lru_insertion sched/sched_process_exit sched/sched_process_free \
         sched/sched_switch tlb/tlb_flush; do
    echo 1 > "$T/events/$e/enable"
done
echo 1 > "$T/tracing_on"
TRACE_MARKER=$T/trace_marker "$HERE/munmap_free_path" "$N" "$ADDR" "$MODE" "$OUT/pfns.txt" > "$OUT/out.txt"
sleep 1
echo 0 > "$T/tracing_on"
cat "$T/trace" > "$OUT/trace.txt"
