// The tiled attention compiled for AVX2 (a target pragma around the kernel only, chosen at
// run time with the GEMM kernel): multiplies then adds as every path does, 16-bit KV widened with F16C / shifts.
#include "attention_block.h"

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx2,fma,f16c")

#define NANO_FLASH_ISA 1
#include "attention_flash.h"

#pragma GCC pop_options

namespace nano {

FlashBlockFn avx2FlashBlock(KvDtype dtype) { return flashBlockFor(dtype); }

}  // namespace nano

#else

namespace nano {
FlashBlockFn avx2FlashBlock(KvDtype dtype) { return portableFlashBlock(dtype); }
}  // namespace nano

#endif
