#include "isa.h"

namespace nano {

std::atomic<unsigned>& clonesUsed(CloneFamily family) {
  static std::atomic<unsigned> used[kNumCloneFamilies] = {};
  return used[int(family)];
}

}  // namespace nano
