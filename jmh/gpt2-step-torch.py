"""The GPT-2 training step of GptStepBenchmark in PyTorch, the reference of jmh/gpt2-vs-torch.sh.

Usage: python3 jmh/gpt2-step-torch.py DIR STEPS   DIR holds what `GptStep PRESET DIR` wrote: weights.safetensors
(Hugging Face GPT-2 names and Conv1D layout) and batch.bin (inputs then targets, int32, 4 x 64). The model is GPT-2
written out here (pre-LayerNorm blocks, causal attention, tanh GELU, tied head) with nn.Linear layers, as a user would
write it. First prints "loss L": the loss of the batch on the given weights, before any step (it must equal Gatun's).
Then runs STEPS steps (zero_grad, forward, backward, clip_grad_norm_ 1.0, AdamW lr 3e-4, betas 0.9/0.999, eps 1e-8,
no weight decay) and prints "ms M" per step after the first three (the median), on TORCH_THREADS threads (default:
all cores).
"""
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{name}: expected F32, got {entry['dtype']}")
        start, end = entry["data_offsets"]
        array = np.frombuffer(data, np.float32, (end - start) // 4, 8 + length + start).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


class Block(nn.Module):
    def __init__(self, channels, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(channels)
        self.c_attn = nn.Linear(channels, 3 * channels)
        self.c_proj = nn.Linear(channels, channels)
        self.ln_2 = nn.LayerNorm(channels)
        self.c_fc = nn.Linear(channels, 4 * channels)
        self.mlp_proj = nn.Linear(4 * channels, channels)

    def forward(self, x, mask):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // self.heads))
        attention = scores.masked_fill(mask[:t, :t], float("-inf")).softmax(dim=-1)
        y = (attention @ v).transpose(1, 2).reshape(b, t, c)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt2(nn.Module):
    def __init__(self, weights):
        super().__init__()
        vocab, channels = weights["wte.weight"].shape
        context = weights["wpe.weight"].shape[0]
        layers = 1 + max(int(name.split(".")[1]) for name in weights if name.startswith("h."))
        heads = {768: 12, 64: 4}[channels]
        self.wte = nn.Embedding(vocab, channels)
        self.wpe = nn.Embedding(context, channels)
        self.h = nn.ModuleList(Block(channels, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(channels)
        self.register_buffer("mask", torch.ones(context, context, dtype=torch.bool).triu(1))
        with torch.no_grad():
            self.wte.weight.copy_(weights["wte.weight"])
            self.wpe.weight.copy_(weights["wpe.weight"])
            self.ln_f.weight.copy_(weights["ln_f.weight"])
            self.ln_f.bias.copy_(weights["ln_f.bias"])
            for i, block in enumerate(self.h):
                w = lambda name: weights[f"h.{i}.{name}"]
                for norm, hf in ((block.ln_1, "ln_1"), (block.ln_2, "ln_2")):
                    norm.weight.copy_(w(hf + ".weight"))
                    norm.bias.copy_(w(hf + ".bias"))
                for linear, hf in ((block.c_attn, "attn.c_attn"), (block.c_proj, "attn.c_proj"),
                                   (block.c_fc, "mlp.c_fc"), (block.mlp_proj, "mlp.c_proj")):
                    linear.weight.copy_(w(hf + ".weight").t())  # Conv1D [in, out] -> Linear [out, in]
                    linear.bias.copy_(w(hf + ".bias"))

    def forward(self, inputs, targets):
        t = inputs.shape[1]
        x = self.wte(inputs) + self.wpe(torch.arange(t))
        for block in self.h:
            x = block(x, self.mask)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def main():
    directory, steps = sys.argv[1], int(sys.argv[2])
    # Debian's torch starts with one thread here; use every core, as Gatun does.
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", os.cpu_count())))
    model = Gpt2(read_safetensors(f"{directory}/weights.safetensors"))
    ids = torch.from_numpy(np.fromfile(f"{directory}/batch.bin", dtype="<i4").astype(np.int64)).view(2, 4, -1)
    inputs, targets = ids[0], ids[1]
    with torch.no_grad():
        print(f"loss {model(inputs, targets).item():.9f}", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        times.append(time.perf_counter() - start)
        if not math.isfinite(loss.item()):
            raise SystemExit(f"the loss is {loss.item()}")
    print(f"ms {statistics.median(times[3:]) * 1e3:.2f} threads {torch.get_num_threads()} "
          f"torch {torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
