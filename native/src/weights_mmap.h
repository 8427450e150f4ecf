// Model files mapped instead of read: a GGUF file becomes one read-only-to-the-file (private)
// mapping that JS parses and hands over as tensor views; loadWeights copies (or repacks) each
// matrix into its own storage and then drops the pages it copied from (madvise DONTNEED: the
// file's pages leave this process, a later read faults them in again from the file), so the
// load peaks at about the file size plus one tensor instead of twice the file.
#pragma once
#include <napi.h>

#include "tensor_view.h"

namespace nano {

// mapFile(path) -> ArrayBuffer over a private mapping of the whole file (unmapped when the
// ArrayBuffer is collected). Throws an Error naming the file and the reason.
Napi::Value mapFile(const Napi::CallbackInfo& info);

// Drops the resident pages of the view's bytes when they lie inside a mapping made by mapFile
// (whole pages only); does nothing for any other memory.
void releaseMapped(const TensorView& view);

}  // namespace nano
