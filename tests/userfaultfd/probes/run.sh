#!/bin/bash
# Driver for the userfaultfd probes (memsim issue 14 fixtures).
# Usage (as root): ./run.sh NAME   -> builds NAME.c, runs it, writes NAME.txt next to this script.
# Saves every setting a probe may change (vm.unprivileged_userfaultfd, the 2 MiB hugetlb pool,
# vm.nr_hugepages), sets the pool to NR_HUGE (default 64) huge pages for hugetlb cells, and restores
# and verifies the saved values in a trap on EXIT/INT/TERM. Temp files live under /tmp/uffdprobe*
# and are removed by the probes and again here.
set -u
cd "$(dirname "$0")"
PROBE=${1:?usage: ./run.sh NAME}
OUT=$PROBE.txt
NR_HUGE=${NR_HUGE:-64}
H2=/sys/kernel/mm/hugepages/hugepages-2048kB
declare -A SAVED
save() { SAVED["$1"]=$(cat "$1"); }
save /proc/sys/vm/unprivileged_userfaultfd
save /proc/sys/vm/nr_hugepages
save /proc/sys/vm/nr_overcommit_hugepages
save $H2/nr_hugepages
show() { for k in $(printf '%s\n' "${!SAVED[@]}" | sort); do echo "  $k = $(cat $k) (saved ${SAVED[$k]})"; done; }
restore() {
  set +e
  rm -rf /tmp/uffdprobe* 2>/dev/null
  echo "${SAVED[/proc/sys/vm/unprivileged_userfaultfd]}" > /proc/sys/vm/unprivileged_userfaultfd
  echo "${SAVED[/proc/sys/vm/nr_overcommit_hugepages]}" > /proc/sys/vm/nr_overcommit_hugepages
  echo "${SAVED[/proc/sys/vm/nr_hugepages]}" > /proc/sys/vm/nr_hugepages
  [ "$(cat $H2/nr_hugepages)" = "${SAVED[$H2/nr_hugepages]}" ] || echo "${SAVED[$H2/nr_hugepages]}" > $H2/nr_hugepages
  bad=0
  for k in "${!SAVED[@]}"; do [ "$(cat $k)" = "${SAVED[$k]}" ] || { echo "RESTORE MISMATCH $k: $(cat $k) != ${SAVED[$k]}"; bad=1; }; done
  {
    echo "=== restore ($(date -u +%FT%TZ)) ==="; show
    [ $bad = 0 ] && echo "RESTORE VERIFIED: every saved setting equals its saved value" || echo "RESTORE FAILED"
  } | tee -a "$OUT"
}
trap restore EXIT
trap 'exit 130' INT TERM

gcc -O1 -Wall -pthread -o /tmp/uffdprobe_$PROBE $PROBE.c || exit 1
echo $NR_HUGE > /proc/sys/vm/nr_hugepages
{
  echo "# $OUT - live-kernel userfaultfd probe $PROBE (memsim issue 14 fixture)"
  echo "# date: $(date -u +%FT%TZ)"
  echo "# uname -r: $(uname -r)"
  echo "# uname -a: $(uname -a)"
  echo "# command: cd tests/userfaultfd/probes && ./run.sh $PROBE  (gcc -O1 -Wall -pthread -o /tmp/uffdprobe_$PROBE $PROBE.c; run as root)"
  echo "# cpus: $(nproc); $(grep Hugepagesize /proc/meminfo); /tmp fs: $(stat -f -c %T /tmp); mmap_min_addr: $(cat /proc/sys/vm/mmap_min_addr); THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
  echo "=== saved settings (then nr_hugepages := $NR_HUGE) ==="; show
  echo "=== probe output ==="
} > "$OUT"
timeout 300 /tmp/uffdprobe_$PROBE 2>&1 | tee -a "$OUT"
echo "probe exit status: ${PIPESTATUS[0]}" | tee -a "$OUT"
rm -f /tmp/uffdprobe_$PROBE
