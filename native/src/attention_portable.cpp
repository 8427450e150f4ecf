// The tiled attention for any CPU (the baseline target): multiplies then adds.
#include "attention_block.h"

#define NANO_FLASH_ISA 0
#include "attention_flash.h"

namespace nano {

FlashBlockFn portableFlashBlock(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::F16: return flashBlock<_Float16>;
    case KvDtype::Bf16: return flashBlock<Bf16>;
    case KvDtype::F32: break;
  }
  return flashBlock<float>;
}

}  // namespace nano
