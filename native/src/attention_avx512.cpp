// The tiled attention compiled for AVX512 (a target pragma around the kernel only, chosen at
// run time with the GEMM kernel): explicit FMAs, 16-bit KV widened with F16C / shifts.
#include "attention_block.h"

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

#define NANO_FLASH_ISA 2
#include "attention_flash.h"

namespace nano {
namespace {
template <class T>
void attendBlock(const FlashBlock& b, const AttentionScratch& sh) {
  flashBlock<T>(b, sh);
}
}  // namespace
}  // namespace nano

#pragma GCC pop_options

namespace nano {

FlashBlockFn avx512FlashBlock(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::F16: return attendBlock<_Float16>;
    case KvDtype::Bf16: return attendBlock<Bf16>;
    case KvDtype::F32: break;
  }
  return attendBlock<float>;
}

}  // namespace nano

#else

namespace nano {
FlashBlockFn avx512FlashBlock(KvDtype dtype) { return portableFlashBlock(dtype); }
}  // namespace nano

#endif
