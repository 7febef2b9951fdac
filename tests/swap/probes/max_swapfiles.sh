#!/bin/sh
# How many swap areas this machine's kernel takes (MAX_SWAPFILES): 64 KiB swap files on the root
# filesystem are swapped on until swapon fails; then all are swapped off and removed.  As root,
# with no swap on:  sh max_swapfiles.sh > max_swapfiles.txt
d=$(mktemp -d /root/swprobe.XXXXXX)
trap 'for f in "$d"/s*; do swapoff "$f" 2>/dev/null; done; rm -rf "$d"' EXIT
echo "uname $(uname -r)"
n=0
for i in $(seq 1 34); do
    f="$d/s$i"
    dd if=/dev/zero of="$f" bs=4096 count=16 status=none
    chmod 600 "$f"
    mkswap "$f" > /dev/null
    if swapon "$f" 2> "$d/err"; then
        n=$((n + 1))
    else
        echo "failed_at $i $(sed 's/.*: //' "$d/err")"
        break
    fi
done
echo "swapped_on $n"
