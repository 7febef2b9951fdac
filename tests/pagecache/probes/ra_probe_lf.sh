#!/bin/sh
# The live-kernel run behind probes/ra_probe_lf.txt: ra_probe.sh's scenarios on an ext4 mounted
# with its defaults (large folios: ext4 has them since 6.16 unless data=journal), with
# filemap:mm_filemap_add_to_page_cache enabled too, so each page_cache_ra_order is followed by
# the folios it added: "add: ofs=<byte offset> order=<folio order>" (pfn and timestamps cut).
set -e
gcc -O2 -o ra_probe ra_probe.c
truncate -s 256M img && mkfs.ext4 -q -F img
LOOP=$(losetup -f --show img); mkdir -p mnt; mount "$LOOP" mnt
echo 128 > /sys/block/$(basename "$LOOP")/queue/read_ahead_kb
dd if=/dev/urandom of=mnt/f bs=4096 count=64 status=none
dd if=/dev/urandom of=mnt/big bs=1M count=8 status=none
dd if=/dev/urandom of=mnt/short bs=4096 count=20 status=none; sync
DEV=$(cat /sys/block/$(basename "$LOOP")/dev); T=/sys/kernel/tracing/instances/ra_probe
mkdir -p $T; echo 1 > $T/events/readahead/enable
echo 1 > $T/events/filemap/mm_filemap_add_to_page_cache/enable
run() {
	echo "## $*"; echo > $T/trace; ./ra_probe "$@" > /dev/null
	grep -E "dev=$DEV |dev $DEV " $T/trace | sed -E 's/.*: page/page/;s/ dev=[0-9:]* ino=[0-9a-f]*//;s/ mmap_miss=0//;s/.*mm_filemap_add_to_page_cache: dev [0-9:]+ ino [0-9a-f]+ pfn=0x[0-9a-f]+ /add: /'
}
run mnt/f 0 1 4 12 28; run mnt/big B; run mnt/f R 0 1 2; run mnt/f S 0; run mnt/f W
run mnt/f R 0 1 2 3 4 5 6 7; run mnt/f K 8; run mnt/f K 40; run mnt/short b
umount mnt; losetup -d "$LOOP"; rmdir $T
