#include "isa.h"

#include <cstring>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace nano {

std::atomic<unsigned>& clonesUsed(CloneFamily family) {
  static std::atomic<unsigned> used[kNumCloneFamilies] = {};
  return used[int(family)];
}

bool isIntelCpu() {
  static const bool intel = [] {
#if defined(__x86_64__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
    char vendor[13] = {};
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    return std::strcmp(vendor, "GenuineIntel") == 0;
#else
    return false;
#endif
  }();
  return intel;
}

}  // namespace nano
