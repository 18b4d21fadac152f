"""torch.matmul of two bf16 n x n matrices on cuda:0, the reference of the cuBLAS GEMM issued from Java.

Usage: python3 jmh/torch-matmul.py [n]   (default 8192). Ten warm-up GEMMs, then the best of five runs of ten,
timed with CUDA events. Prints one line: "torch.matmul bf16 N^3: T ms  F TFLOP/s" (per GEMM; TFLOP/s = 2n^3 / T).
"""
import sys

import torch


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(10):
            a @ b
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 10)
    print(f"torch.matmul bf16 {n}^3: {best:.4f} ms  {2 * n ** 3 / best / 1e9:.1f} TFLOP/s "
          f"on {torch.cuda.get_device_name(0)} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
