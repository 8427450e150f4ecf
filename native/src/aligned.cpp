#include "aligned.h"

#include <cstdint>
#include <cstdlib>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace nano {

namespace {
std::size_t roundUp(std::size_t bytes) { return (bytes + kLargeBytes - 1) / kLargeBytes * kLargeBytes; }
}  // namespace

#if defined(__linux__)
// Maps size + 2 MB and unmaps the unaligned head and tail, so the block starts on a 2 MB
// boundary and huge pages can back all of it.
void* allocateLarge(std::size_t bytes) {
  const std::size_t size = roundUp(bytes);
  void* raw = mmap(nullptr, size + kLargeBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + kLargeBytes - 1) / kLargeBytes * kLargeBytes;
  if (aligned > start) munmap(raw, aligned - start);
  const std::size_t tail = (start + size + kLargeBytes) - (aligned + size);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  void* p = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  madvise(p, size, MADV_HUGEPAGE);  // advice only: without THP the block still works
#endif
  return p;
}

void freeLarge(void* p, std::size_t bytes) { munmap(p, roundUp(bytes)); }
#else
void* allocateLarge(std::size_t bytes) { return ::operator new(bytes, std::align_val_t(64)); }
void freeLarge(void* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
#endif

}  // namespace nano
