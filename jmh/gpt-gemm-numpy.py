"""numpy (OpenBLAS) fp32 GEMM at the shapes of a GPT-2 124M training step, as GptGemmBenchmark runs them.

Usage: python3 jmh/gpt-gemm-numpy.py TOKENS...   Weights are [out x in]: fwd is x @ w.T, dx is dy @ w, dw is
dw += dy.T @ x (accumulated, as the layers do). Prints "shape tokens GFLOP/s" per line: the best of 10 timed calls
after 3 warm-up calls, GFLOP/s = 2mnk / time.
"""
import sys
import time

import numpy as np

LAYERS = {"qkv": (768, 2304), "proj": (768, 768), "fc": (768, 3072), "fc2": (3072, 768), "head": (768, 50304)}


def best_seconds(call):
    for _ in range(3):
        call()
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    rng = np.random.default_rng(42)
    for tokens in map(int, sys.argv[1:]):
        for name, (fan_in, fan_out) in LAYERS.items():
            x = rng.uniform(-1, 1, (tokens, fan_in)).astype(np.float32)
            w = rng.uniform(-1, 1, (fan_out, fan_in)).astype(np.float32)
            dy = rng.uniform(-1, 1, (tokens, fan_out)).astype(np.float32)
            y = np.empty((tokens, fan_out), np.float32)
            dx = np.empty((tokens, fan_in), np.float32)
            dw = np.zeros((fan_out, fan_in), np.float32)
            flops = 2 * tokens * fan_in * fan_out
            passes = {"fwd": lambda: np.matmul(x, w.T, out=y), "dx": lambda: np.matmul(dy, w, out=dx),
                      "dw": lambda: np.add(dw, dy.T @ x, out=dw)}
            for name_pass, call in passes.items():
                print(f"{name}.{name_pass} {tokens} {flops / best_seconds(call) / 1e9:.1f}", flush=True)


if __name__ == "__main__":
    main()
