// 64-byte aligned std::vector, so weight panels and scratch rows start on cache lines.
// Large buffers (the KV pool, big weight matrices) are mapped separately and marked for
// transparent huge pages: attention walks a step's whole KV (tens of MB) in 1 KB page
// blocks, and with 4 KB pages nearly every block is a TLB miss (a two-level walk in a VM).
#pragma once
#include <cstddef>
#include <new>
#include <vector>

namespace nano {

void* allocateLarge(std::size_t bytes);           // 2 MB aligned, zeroed, huge pages advised
void freeLarge(void* p, std::size_t bytes);
constexpr std::size_t kLargeBytes = std::size_t(1) << 21;  // from 2 MB up

template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(std::size_t n) {
    if (n * sizeof(T) >= kLargeBytes) return static_cast<T*>(allocateLarge(n * sizeof(T)));
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, std::size_t n) {
    if (n * sizeof(T) >= kLargeBytes) freeLarge(p, n * sizeof(T));
    else ::operator delete(p, std::align_val_t(64));
  }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const AlignedAllocator<U>&) const { return false; }
};

template <class T>
using AlignedVec = std::vector<T, AlignedAllocator<T>>;

}  // namespace nano
