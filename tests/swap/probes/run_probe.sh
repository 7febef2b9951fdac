#!/bin/sh
# Run swap_probe on this machine's kernel with /dev/zram0 (64 MiB) as the only swap area, and put
# zram0 back.  As root, with zram0 unused and no swap on:  sh run_probe.sh > swap_probe.txt
set -e
cd "$(dirname "$0")"
gcc -O2 -o /tmp/swap_probe swap_probe.c
echo $((64 << 20)) > /sys/block/zram0/disksize
mkswap /dev/zram0 > /dev/null
swapon -p 5 /dev/zram0
trap 'swapoff /dev/zram0; echo 1 > /sys/block/zram0/reset' EXIT
echo "uname $(uname -r)"
grep zram0 /proc/swaps | sed 's/^/swaps_line /'
echo "page_cluster $(cat /proc/sys/vm/page-cluster)"
echo "vma_ra_enabled $(cat /sys/kernel/mm/swap/vma_ra_enabled)"
/tmp/swap_probe
