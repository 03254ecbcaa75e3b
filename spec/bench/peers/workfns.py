# Copied unchanged from /work/shared/bench-peers/workfns.py (this project's peer benchmarks); used by dask_bench.py.
"""Trivial work functions shared by the Python peers (Dask, Toil).

Each is as cheap as possible so that wall time is framework overhead.
"""
import hashlib, os, shutil, subprocess

MIB = 1 << 20
SMALL_FILE = '/tmp/peerbench-small.bin'   # 4 KiB input for W4


def ensure_small_file():
    if not os.path.exists(SMALL_FILE):
        with open(SMALL_FILE, 'wb') as f:
            f.write(bytes(range(256)) * 16)
    return SMALL_FILE


def inc(x):
    """W1/W2 unit of work: x + 1."""
    return x + 1


def total(xs):
    """W1 gather."""
    return sum(xs)


def write_mib(i, outdir):
    """W3 map: write a 1 MiB file of its own, return its path."""
    p = os.path.join(outdir, f'part-{i:05d}.bin')
    with open(p, 'wb') as f:
        f.write(bytes([i % 256]) * MIB)
    return p


def concat(paths, out):
    """W3 reduce: concatenate all parts into one file, return (path, size)."""
    with open(out, 'wb') as o:
        for p in paths:
            with open(p, 'rb') as f:
                shutil.copyfileobj(f, o, MIB)
    return out, os.path.getsize(out)


def sha256_small(i, path=SMALL_FILE):
    """W4 unit: run an external command (sha256sum on a 4 KiB file)."""
    r = subprocess.run(['sha256sum', path], stdout=subprocess.PIPE, check=True)
    return r.stdout.split()[0].decode()


def count(xs):
    """W4 gather."""
    return len(xs)
