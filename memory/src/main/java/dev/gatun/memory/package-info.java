/**
 * Tensors and the memory they live in, every byte accounted: a {@link Tensor} is a contiguous row-major array of a
 * {@link DType} and {@link Shape} in a {@link Storage} on a {@link Device}, supplied by a {@link TensorAllocator}:
 * {@link HostAllocator} (off-heap or pinned host memory) or {@link CachingDeviceAllocator} (PyTorch-style caching on a
 * CUDA device, no {@code cudaMalloc} in steady state). Accounting is apart from allocation: an {@link Accountant} books
 * in-use and reserved bytes per {@link MemoryCategory} with exact peaks ({@link MemoryReport}); an allocation either
 * fully succeeds or changes nothing, and closing an allocator with live buffers throws a {@link MemoryLeakException}
 * naming them. Work is ordered by {@link DeviceStream}s and {@link DeviceEvent}s.
 */
package dev.gatun.memory;
