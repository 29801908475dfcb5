#pragma once
// Software prefetch for the kernels: Swift has no prefetch instruction of its own.

/// Asks the CPU to bring the cache line holding `address` into the core's second-level cache for a coming read.
static inline void frontier_prefetch(const void *address) { __builtin_prefetch(address, 0, 2); }
