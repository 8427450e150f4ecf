// The tiled attention compiled for AVX512 (a target pragma around the kernel only, chosen at
// run time with the GEMM kernel): multiplies then adds as every path does, 16-bit KV widened explicitly.
#include "attention_block.h"

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

#define NANO_FLASH_ISA 2
#include "attention_flash.h"

#pragma GCC pop_options

namespace nano {

FlashBlockFn avx512FlashBlock(KvDtype dtype) { return flashBlockFor(dtype); }

}  // namespace nano

#else

namespace nano {
FlashBlockFn avx512FlashBlock(KvDtype dtype) { return portableFlashBlock(dtype); }
}  // namespace nano

#endif
