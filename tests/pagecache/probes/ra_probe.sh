#!/bin/sh
# The live-kernel run behind probes/ra_probe.txt (as root on the 6.18 VM): an ext4 mounted
# data=journal (no large folios: ext4_should_enable_large_folio() is false, so readahead reads
# order-0 pages as diskfs does) on a loop device with read_ahead_kb 128 and max_sectors_kb 1280,
# a 64-page file f, an 8 MiB file big and a 20-page file short, and a trace instance with the readahead events; each
# scenario's events of the loop device, with dev, ino and mmap_miss cut, follow its "##" line.
set -e
gcc -O2 -o ra_probe ra_probe.c
truncate -s 256M img && mkfs.ext4 -q -F img
LOOP=$(losetup -f --show img); mkdir -p mnt; mount -o data=journal "$LOOP" mnt
echo 128 > /sys/block/$(basename "$LOOP")/queue/read_ahead_kb
dd if=/dev/urandom of=mnt/f bs=4096 count=64 status=none
dd if=/dev/urandom of=mnt/big bs=1M count=8 status=none
dd if=/dev/urandom of=mnt/short bs=4096 count=20 status=none; sync
DEV=$(cat /sys/block/$(basename "$LOOP")/dev); T=/sys/kernel/tracing/instances/ra_probe
mkdir -p $T; echo 1 > $T/events/readahead/enable
run() {
	echo "## $*"; echo > $T/trace; ./ra_probe "$@" > /dev/null
	grep "dev=$DEV " $T/trace | sed 's/.*: page/page/;s/ dev=[0-9:]* ino=[0-9a-f]*//;s/ mmap_miss=0//'
}
run mnt/f 0 1 4 12 28; run mnt/big B; run mnt/f R 0 1 2; run mnt/f S 0; run mnt/f W
run mnt/f R 0 1 2 3 4 5 6 7; run mnt/f K 8; run mnt/f K 40; run mnt/short b
umount mnt; losetup -d "$LOOP"; rmdir $T
