#include "isa.h"

namespace nano {

std::atomic<unsigned>& clonesUsed(CloneFamily family) {
  static std::atomic<unsigned> rowOps{0}, sampling{0};
  return family == CloneFamily::RowOps ? rowOps : sampling;
}

}  // namespace nano
