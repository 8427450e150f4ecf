// The tiled attention for any CPU (the baseline target): multiplies then adds.
#include "attention_block.h"

#define NANO_FLASH_ISA 0
#include "attention_flash.h"

namespace nano {

FlashBlockFn portableFlashBlock(KvDtype dtype) { return flashBlockFor(dtype); }

}  // namespace nano
