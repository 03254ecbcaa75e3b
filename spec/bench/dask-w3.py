#!/usr/bin/python3
"""W3 on Dask (threads scheduler), for spec/bench/collections-w3.ts: N calls each write their own
1 MiB file, then one call concatenates them into one file. Copied from the peer benchmarks
(shared/bench-peers/dask_bench.py and workfns.py, the w3 workload). Prints one JSON line per
run: {"run": k, "wall_s": ..., "cpu_s": ...} (run 0 is the first, cold one).

usage: /usr/bin/python3 spec/bench/dask-w3.py N RUNS
"""
import json, os, shutil, sys, tempfile, time
import dask
from dask import delayed

MIB = 1 << 20


def write_mib(i, outdir):
    p = os.path.join(outdir, f'part-{i:05d}.bin')
    with open(p, 'wb') as f:
        f.write(bytes([i % 256]) * MIB)
    return p


def concat(paths, out):
    with open(out, 'wb') as o:
        for p in paths:
            with open(p, 'rb') as f:
                shutil.copyfileobj(f, o, MIB)
    return out, os.path.getsize(out)


def main():
    n, runs = int(sys.argv[1]), int(sys.argv[2])
    for k in range(runs):
        tmp = tempfile.mkdtemp(prefix='crunch-bench-dask-w3-')
        try:
            w0, c0 = time.perf_counter(), time.process_time()
            parts = [delayed(write_mib, pure=False)(i, tmp) for i in range(n)]
            r = delayed(concat, pure=False)(parts, os.path.join(tmp, 'all.bin')).compute(scheduler='threads')
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            assert r[1] == n * MIB
            print(json.dumps({'run': k, 'wall_s': wall, 'cpu_s': cpu, 'dask': dask.__version__}), flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
