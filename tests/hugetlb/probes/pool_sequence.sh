#!/bin/bash
# Driver for pool_sequence.c: saves every hugetlb setting the probe may change, runs the probe,
# and restores (trap on EXIT/INT/TERM, so also on failure) and verifies the saved values.
# Usage (as root): ./pool_sequence.sh   -> writes pool_sequence.txt next to this script.
set -u
cd "$(dirname "$0")"
PROBE=${1:-pool_sequence}   # optional: name of another probe source in this folder (e.g. nr_hugetlb_check)
OUT=$PROBE.txt
H=/sys/kernel/mm/hugepages
NODES=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null)

# ---- save ----
declare -A SAVED
save() { SAVED["$1"]=$(cat "$1"); }
save /proc/sys/vm/nr_hugepages
save /proc/sys/vm/nr_overcommit_hugepages
for d in $H/hugepages-*; do save $d/nr_hugepages; save $d/nr_overcommit_hugepages; done
for n in $NODES; do for d in $n/hugepages/hugepages-*; do save $d/nr_hugepages; done; done

show() { for k in $(printf '%s\n' "${!SAVED[@]}" | sort); do echo "  $k = $(cat $k) (saved ${SAVED[$k]})"; done; }

restore() {
  set +e
  umount -l /tmp/probes13_hugetlbfs 2>/dev/null; umount -l /tmp/probes13_hugetlbfs_min 2>/dev/null
  rmdir /tmp/probes13_hugetlbfs /tmp/probes13_hugetlbfs_min 2>/dev/null
  # overcommit first, then the global pool of each hstate, then the per-node pools
  echo "${SAVED[/proc/sys/vm/nr_overcommit_hugepages]}" > /proc/sys/vm/nr_overcommit_hugepages
  for d in $H/hugepages-*; do
    [ "$(cat $d/nr_overcommit_hugepages)" = "${SAVED[$d/nr_overcommit_hugepages]}" ] || echo "${SAVED[$d/nr_overcommit_hugepages]}" > $d/nr_overcommit_hugepages
    [ "$(cat $d/nr_hugepages)" = "${SAVED[$d/nr_hugepages]}" ] || echo "${SAVED[$d/nr_hugepages]}" > $d/nr_hugepages
  done
  echo "${SAVED[/proc/sys/vm/nr_hugepages]}" > /proc/sys/vm/nr_hugepages
  for n in $NODES; do for d in $n/hugepages/hugepages-*; do
    [ "$(cat $d/nr_hugepages)" = "${SAVED[$d/nr_hugepages]}" ] || echo "${SAVED[$d/nr_hugepages]}" > $d/nr_hugepages
  done; done
  bad=0
  for k in "${!SAVED[@]}"; do [ "$(cat $k)" = "${SAVED[$k]}" ] || { echo "RESTORE MISMATCH $k: $(cat $k) != ${SAVED[$k]}"; bad=1; }; done
  {
    echo; echo "=== restore ($(date -u +%FT%TZ)) ==="; show
    grep -E 'HugePages_|Hugetlb' /proc/meminfo | sed 's/^/  /'
    [ $bad = 0 ] && echo "RESTORE VERIFIED: every saved setting equals its saved value" || echo "RESTORE FAILED"
  } | tee -a "$OUT"
}
trap restore EXIT
trap 'exit 130' INT TERM

gcc -O0 -Wall -o $PROBE $PROBE.c || exit 1
{
  echo "# $OUT - live-kernel hugetlb probe $PROBE (memsim issue 13 fixture)"
  echo "# date: $(date -u +%FT%TZ)"
  echo "# uname -r: $(uname -r)"
  echo "# uname -a: $(uname -a)"
  echo "# command: cd /work/notes/probes13 && ./pool_sequence.sh $* (runs gcc -O0 -Wall -o $PROBE $PROBE.c; ./$PROBE)"
  echo "# nodes: $(cat /sys/devices/system/node/online) (count $(echo $NODES | wc -w)), nodes with memory: $(cat /sys/devices/system/node/has_memory)"
  echo "# cpus: $(nproc); $(grep MemTotal /proc/meminfo); $(grep Hugepagesize /proc/meminfo)"
  echo "# hstates: $(ls $H | tr '\n' ' ')"
  echo "=== saved settings ==="; show
  echo "=== probe output ==="
} > "$OUT"
./$PROBE 2>&1 | tee -a "$OUT"
echo "probe exit status: ${PIPESTATUS[0]}" | tee -a "$OUT"
