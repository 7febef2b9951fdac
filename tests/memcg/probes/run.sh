#!/bin/bash
# Driver for the memcg probes (memsim issue 15 fixtures, cgroup v1 memory controller).
# Usage (as root): ./run.sh NAME   -> builds NAME.c, runs it, writes NAME.txt next to this script.
#
# Creates /sys/fs/cgroup/memory/memsim_probe_NAME (the probe makes its cgroups below it) and mounts
# a small tmpfs at /tmp/memcgprobe_tmpfs. A trap on EXIT/INT/TERM then: moves every task of every
# memsim_probe_* cgroup back to the root memcg, kills the probe's leftover processes (by pid),
# unmounts the tmpfs and removes /tmp/memcgprobe*, removes every memsim_probe_* cgroup deepest
# first (dropping caches if a rmdir fails), drops caches until the number of memory cgroups in
# /proc/cgroups is back to its value before the run (dying memcgs pinned by page cache are then
# freed), checks the saved settings, and prints RESTORE VERIFIED only if all of that holds.
# No sysctl is changed (vm.drop_caches is only triggered); no swap is used.
set -u
cd "$(dirname "$0")"
PROBE=${1:?usage: ./run.sh NAME}
PROBE=${PROBE%.c}
OUT=$PROBE.txt
CGM=/sys/fs/cgroup/memory
TOP=$CGM/memsim_probe_$PROBE
TMPFS=/tmp/memcgprobe_tmpfs
BIN=/tmp/memcgprobe_bin_$PROBE

declare -A SAVED
save() { SAVED["$1"]=$(cat "$1" | tr '\n' ' '); }
for s in overcommit_memory panic_on_oom oom_kill_allocating_task swappiness min_free_kbytes; do
  save /proc/sys/vm/$s
done
for f in memory.use_hierarchy memory.move_charge_at_immigrate memory.oom_control memory.swappiness \
         memory.limit_in_bytes memory.memsw.limit_in_bytes memory.soft_limit_in_bytes; do
  save $CGM/$f
done
save /proc/swaps
show() { for k in $(printf '%s\n' "${!SAVED[@]}" | sort); do echo "  $k = $(cat $k | tr '\n' ' ') (saved ${SAVED[$k]})"; done; }
ncg() { awk '$1=="memory"{print $3}' /proc/cgroups; }
NCG0=$(ncg)
[ -e "$CGM/memsim_probe_$PROBE" ] && { echo "$TOP exists already (an earlier run did not clean up?)"; exit 1; }

restore() {
  set +e
  trap - EXIT INT TERM
  local bad=0 tries
  # 1. every task of our cgroups back to the root memcg; then kill them (they are the probe's
  #    workers: nothing else is ever moved into memsim_probe_*) and the probe itself, by pid
  local moved=""
  for cg in $(find $CGM -mindepth 1 -maxdepth 1 -type d -name 'memsim_probe_*' 2>/dev/null); do
    for d in $(find $cg -depth -type d); do
      for p in $(cat $d/cgroup.procs 2>/dev/null); do echo $p > $CGM/cgroup.procs; moved="$moved $p"; done
    done
  done
  [ -n "${PROBE_PID:-}" ] && { kill -TERM $PROBE_PID 2>/dev/null; sleep 0.5; }
  for p in $moved; do kill -KILL $p 2>/dev/null; done
  [ -n "$moved" ] && echo "restore: moved back to the root memcg and killed:$moved" | tee -a "$OUT"
  sleep 0.2
  # 1b. a tracefs instance a probe left (memcg_trace): its events off, then removed
  for inst in /sys/kernel/tracing/instances/memsim_probe_*; do
    [ -d "$inst" ] || continue
    echo 0 > $inst/tracing_on
    for e in $inst/events/*/*/enable; do echo 0 > $e 2>/dev/null; done
    rmdir $inst
  done
  # 2. temp files and the tmpfs
  mountpoint -q $TMPFS && umount $TMPFS
  rm -rf /tmp/memcgprobe* 2>/dev/null
  # 3. cgroups, deepest first
  for tries in 1 2 3 4 5; do
    for cg in $(find $CGM -mindepth 1 -maxdepth 1 -type d -name 'memsim_probe_*' 2>/dev/null); do
      for d in $(find $cg -depth -type d); do rmdir $d 2>/dev/null; done
    done
    [ -z "$(ls $CGM | grep memsim_probe)" ] && break
    sync; echo 3 > /proc/sys/vm/drop_caches; sleep 1
  done
  # 4. dying memcgs: drop caches until /proc/cgroups is back to its value before the run
  local n=$(ncg) drops=0
  for tries in $(seq 1 20); do
    [ "$n" -le "$NCG0" ] && break
    sync; echo 3 > /proc/sys/vm/drop_caches; drops=$((drops+1)); sleep 0.5; n=$(ncg)
  done
  for k in "${!SAVED[@]}"; do [ "$(cat $k | tr '\n' ' ')" = "${SAVED[$k]}" ] || { echo "RESTORE MISMATCH $k: $(cat $k) != ${SAVED[$k]}"; bad=1; }; done
  left=$(ls $CGM | grep memsim_probe)
  [ -n "$left" ] && { echo "RESTORE MISMATCH: cgroups left: $left"; bad=1; }
  [ -n "$(ls -d /sys/kernel/tracing/instances/memsim_probe_* 2>/dev/null)" ] && { echo "RESTORE MISMATCH: tracefs instance left"; bad=1; }
  [ -n "$(ls -d /tmp/memcgprobe* 2>/dev/null)" ] && { echo "RESTORE MISMATCH: temp files left"; bad=1; }
  mountpoint -q $TMPFS 2>/dev/null && { echo "RESTORE MISMATCH: $TMPFS still mounted"; bad=1; }
  [ "$n" -le "$NCG0" ] || { echo "RESTORE MISMATCH: memory num_cgroups $n > $NCG0 before the run"; bad=1; }
  {
    echo "=== restore ($(date -u +%FT%TZ)) ==="; show
    echo "  memsim_probe_* cgroups left: ${left:-none}; /tmp/memcgprobe*: $(ls -d /tmp/memcgprobe* 2>/dev/null | wc -l)"
    echo "  /proc/cgroups memory num_cgroups: $n (before the run $NCG0; drop_caches written $drops times by the restore)"
    [ $bad = 0 ] && echo "RESTORE VERIFIED: cgroups removed, dying memcgs released, settings equal their saved values" || echo "RESTORE FAILED"
  } | tee -a "$OUT"
}
trap restore EXIT
trap 'exit 130' INT TERM

gcc -O1 -Wall -o $BIN $PROBE.c || exit 1
mkdir -p $TMPFS && mount -t tmpfs -o size=64m,mode=1777 memcgprobe $TMPFS || exit 1
mkdir $TOP || exit 1
{
  echo "# $OUT - live-kernel memcg (cgroup v1) probe $PROBE (memsim issue 15 fixture)"
  echo "# date: $(date -u +%FT%TZ)"
  echo "# uname -r: $(uname -r)"
  echo "# uname -a: $(uname -a)"
  echo "# command: cd tests/memcg/probes && ./run.sh $PROBE  (gcc -O1 -Wall -o $BIN $PROBE.c; MEMCG_TOP=$TOP MEMCG_TMPFS=$TMPFS timeout 600 $BIN, as root)"
  echo "# cpus: $(nproc) online $(cat /sys/devices/system/cpu/online); $(grep MemTotal /proc/meminfo); swap: $(tail -n +2 /proc/swaps | wc -l) devices; page size $(getconf PAGESIZE)"
  echo "# THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled); /tmp fs: $(stat -f -c %T /tmp); $TMPFS: tmpfs size=64m"
  echo "# memory controller: $CGM (cgroup v1), root use_hierarchy=$(cat $CGM/memory.use_hierarchy), memsw files: $(ls $CGM | grep -c memsw); /proc/cgroups memory num_cgroups before the run: $NCG0"
  echo "=== saved settings ==="; show
  echo "=== probe output ==="
} > "$OUT"
T0=$(cut -d' ' -f1 /proc/uptime)   # dmesg lines from now on belong to this run
MEMCG_TOP=$TOP MEMCG_TMPFS=$TMPFS timeout 600 $BIN > /tmp/memcgprobe_out_$PROBE 2>&1 &
PROBE_PID=$!   # timeout(1): a TERM to it is passed on to the probe; the workers die with the probe
wait $PROBE_PID
RC=$?
PROBE_PID=
cat /tmp/memcgprobe_out_$PROBE | tee -a "$OUT"
echo "probe exit status: $RC" | tee -a "$OUT"
# kernel log lines of the run about memcg (OOM reports, deprecation warnings), timestamps cut
dmesg > /tmp/memcgprobe_dmesg_$PROBE
awk -v t0="$T0" '{ i = index($0, "]"); ts = substr($0, 2, i - 2) + 0; m = substr($0, i + 2) }
  ts >= t0 && m !~ /^ / && m ~ /oom-kill|invoked oom-killer|^memory:|^memory\+swap:|^kmem:|Memory cgroup|deprecat|cgroup/ { print "dmesg\t" m }' \
  /tmp/memcgprobe_dmesg_$PROBE > /tmp/memcgprobe_dmesg_sel_$PROBE
cat /tmp/memcgprobe_dmesg_sel_$PROBE >> "$OUT"
cat /tmp/memcgprobe_dmesg_sel_$PROBE
