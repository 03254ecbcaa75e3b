#!/usr/bin/python3
"""samples/numbers.ts written with Dask delayed, the yardstick of `npm run bench:startup`.

The same pipeline: a fan-out (one square per number), a gather (sum of the squares), a chain (inc
three times) and a task that computes a graph of its own (sum_of_squares, Dask's nearest to a work
that calls work). Parameters from the command line (argparse, as `crunch run` reads flags), the
output printed as indented JSON.

    /usr/bin/python3 spec/bench/startup/numbers_dask.py --n 10
"""
import argparse
import json

import dask
from dask import delayed


def square(x):
    return x * x


def total(xs):
    return sum(xs)


def inc(x):
    return x + 1


def sum_of_squares(xs):
    return dask.compute(delayed(total)([delayed(square)(x) for x in xs]), scheduler='sync')[0]


def main():
    parser = argparse.ArgumentParser(description='Runs the pipeline "numbers".')
    parser.add_argument('--n', type=int, required=True)
    n = parser.parse_args().n
    xs = list(range(1, n + 1))
    squares = [delayed(square, pure=False)(x) for x in xs]
    out = {
        'sumOfSquares': delayed(total, pure=False)(squares),
        'chained': delayed(inc, pure=False)(delayed(inc, pure=False)(delayed(inc, pure=False)(n))),
        'viaContinuation': delayed(sum_of_squares, pure=False)(xs),
    }
    (result,) = dask.compute(out)
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
