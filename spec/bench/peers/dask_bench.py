#!/usr/bin/python3
# Copied unchanged from /work/shared/bench-peers/dask_bench.py (this project's peer benchmarks); run by spec/bench/peers.ts.
"""Dask delayed peer benchmark.

usage: dask_bench.py SCHEDULER WORKLOAD N [WARM]
  SCHEDULER: threads | sync | distributed   (distributed = LocalCluster, 2 worker processes x 1 thread)
  WORKLOAD : w1 (fan-out N + gather) | w2 (chain of N) | w3 (N x 1 MiB files + concat) | w4 (N x sha256sum)
Prints one line 'RESULT {json}'. wall_s covers graph construction + compute (cluster start excluded,
reported separately as setup_s). wall_s is the first (cold) run in the process; if WARM>0
(default 2) the workflow is rebuilt and recomputed WARM more times and warm_wall_s is the best of those.
"""
import json, os, shutil, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.setrecursionlimit(100000)
import dask
from dask import delayed
import workfns as W


def build(workload, n, tmp):
    if workload == 'w1':
        parts = [delayed(W.inc, pure=False)(i) for i in range(n)]
        return delayed(W.total, pure=False)(parts), lambda r: r == sum(range(1, n + 1))
    if workload == 'w2':
        x = 0
        for _ in range(n):
            x = delayed(W.inc, pure=False)(x)
        return x, lambda r: r == n
    if workload == 'w3':
        parts = [delayed(W.write_mib, pure=False)(i, tmp) for i in range(n)]
        out = os.path.join(tmp, 'all.bin')
        return delayed(W.concat, pure=False)(parts, out), lambda r: r[1] == n * W.MIB
    if workload == 'w4':
        W.ensure_small_file()
        parts = [delayed(W.sha256_small, pure=False)(i) for i in range(n)]
        return delayed(W.count, pure=False)(parts), lambda r: r == n
    raise SystemExit('unknown workload ' + workload)


def main():
    sched, workload, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    warm = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    tmp = tempfile.mkdtemp(prefix='peerbench-dask-', dir='/tmp')
    setup = 0.0
    client = cluster = None
    try:
        if sched == 'distributed':
            from distributed import Client, LocalCluster
            t0 = time.perf_counter()
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=50)
            client = Client(cluster)
            setup = time.perf_counter() - t0
            kw = {}
        else:
            kw = {'scheduler': sched}  # 'threads' (default pool = nproc threads) or 'sync'
        t0 = time.perf_counter()
        obj, check = build(workload, n, tmp)
        tb = time.perf_counter()
        r = obj.compute(**kw)
        t1 = time.perf_counter()
        ok = bool(check(r))
        warm_walls = []
        for _ in range(warm):
            w0 = time.perf_counter()
            o2, c2 = build(workload, n, tmp)
            r2 = o2.compute(**kw)
            warm_walls.append(time.perf_counter() - w0)
            ok = ok and bool(c2(r2))
        ww = min(warm_walls) if warm_walls else None
        print('RESULT ' + json.dumps({
            'system': f'dask-{sched}', 'workload': workload, 'n': n,
            'wall_s': round(t1 - t0, 6), 'build_s': round(tb - t0, 6),
            'compute_s': round(t1 - tb, 6), 'setup_s': round(setup, 4),
            'per_task_us': round((t1 - t0) / n * 1e6, 2),
            'warm_wall_s': round(ww, 6) if ww else None,
            'warm_per_task_us': round(ww / n * 1e6, 2) if ww else None, 'ok': ok,
            'dask': dask.__version__}), flush=True)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
