#!/usr/bin/env python3
"""Blank the GPU code a node cannot run in a CUDA library, so that it compresses to nothing.

    fatbin_keep_arch.py IN.so OUT.so [--keep 90]      (--keep may repeat: 90 for Hopper)

A CUDA library's `.nv_fatbin` section holds, per kernel file, one fat binary with machine code
(SASS, "ELF" entries) for each GPU architecture it was built for, and maybe PTX. Machine code
runs only on its own major architecture (sm_80 code never runs on an sm_90 GPU), and the CUDA
runtime loads only the entry it picks for the device, so on an H100/H200 (sm_90) every
non-sm_90 entry is dead weight. This keeps each entry's header and size, so every offset in
the file stays where it was, and overwrites the payload of every ELF entry whose architecture
is not kept with zeros. PTX entries are kept whatever their architecture (the driver can
compile PTX for a newer GPU). ONNX Runtime 1.31.1's CUDA provider (284 MB, 219 MB of it
fat binaries: sm_75, 80, 86, 89, 90, 120, no PTX) keeps 77 MB of sm_90 code.
scripts/gpu-check.sh pack uses it; the result is for that kit, not for a general bundle.
Prints one line per architecture (entries, bytes, kept or blanked) to stderr.
"""
import argparse
import collections
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KIND = {1: "PTX", 2: "ELF"}


def section(data, name):
    """(offset, size) of the named section of a little-endian ELF64 file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("fatbin_keep_arch: not a little-endian 64-bit ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = secs[shstrndx][4]
    for s in secs:
        end = data.index(b"\0", names + s[0])
        if data[names + s[0]:end].decode() == name:
            return s[4], s[5]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--keep", type=int, action="append", help="SM architecture to keep (90 = sm_90)")
    a = ap.parse_args()
    keep = set(a.keep or [90])
    data = bytearray(open(a.src, "rb").read())
    found = section(data, ".nv_fatbin")
    if not found:
        raise SystemExit(f"fatbin_keep_arch: {a.src} has no .nv_fatbin section")
    off, size = found
    pos, end = off, off + size
    stats = collections.defaultdict(lambda: [0, 0])
    binaries = without_kept = 0
    while pos + 16 <= end:
        magic, _version, hsize, fsize = struct.unpack_from("<IHHQ", data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # fat binaries are 8-byte aligned, with padding between them
            continue
        binaries += 1
        p, stop = pos + hsize, pos + hsize + fsize
        if stop > end:
            raise SystemExit(f"fatbin_keep_arch: fat binary at {pos:#x} runs past the section: not a file this tool knows")
        kept_here = False
        while p + 64 <= stop:
            kind, _, ehsize, payload = struct.unpack_from("<HHIQ", data, p)
            arch, = struct.unpack_from("<I", data, p + 0x1C)
            if kind not in KIND or ehsize < 64 or p + ehsize + payload > stop:
                raise SystemExit(f"fatbin_keep_arch: entry at {p:#x} is not one this tool knows (kind {kind}); nothing written")
            keep_it = kind == 1 or arch in keep
            kept_here |= keep_it
            st = stats[(KIND[kind], arch, keep_it)]
            st[0] += 1
            st[1] += payload
            if not keep_it:
                data[p + ehsize:p + ehsize + payload] = bytes(payload)
            p += ehsize + payload
        without_kept += not kept_here
        pos = stop
    if binaries == 0:
        raise SystemExit(f"fatbin_keep_arch: no fat binary found in {a.src}")
    with open(a.dst, "wb") as f:
        f.write(data)
    for (kind, arch, kept), (n, b) in sorted(stats.items()):
        print(f"fatbin_keep_arch: {kind} sm_{arch}: {n} entries, {b} bytes, {'kept' if kept else 'blanked'}", file=sys.stderr)
    print(f"fatbin_keep_arch: {binaries} fat binaries, {without_kept} with nothing for sm_{sorted(keep)} "
          "(their kernels could not run there anyway)", file=sys.stderr)


if __name__ == "__main__":
    main()
