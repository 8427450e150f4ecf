#include "weights_mmap.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace nano {

namespace {

struct Mapping {
  uintptr_t begin;
  size_t bytes;
};

std::mutex mappingsLock;
std::vector<Mapping> mappings;  // live mappings made by mapFile

void unmap(Napi::Env, void* data, size_t* bytes) {
  {
    std::lock_guard<std::mutex> lock(mappingsLock);
    for (size_t i = 0; i < mappings.size(); ++i)
      if (mappings[i].begin == reinterpret_cast<uintptr_t>(data)) {
        mappings.erase(mappings.begin() + long(i));
        break;
      }
  }
  munmap(data, *bytes);
  delete bytes;
}

size_t viewBytes(const TensorView& v) {
  switch (v.dtype) {
    case TensorDtype::F32: return v.numel * 4;
    case TensorDtype::F16:
    case TensorDtype::Bf16: return v.numel * 2;
    default: {
      const QuantTraits& t = quantTraits(quantTypeOf(v.dtype));
      return v.numel / t.blockElems * t.blockBytes;
    }
  }
}

}  // namespace

Napi::Value mapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "mapFile(path): path must be a string");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const auto fail = [&](const char* what) {
    throw Napi::Error::New(env, path + ": " + what + ": " + std::strerror(errno));
  };
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("open");
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    fail("fstat");
  }
  const size_t bytes = size_t(st.st_size);
  if (bytes == 0) {
    close(fd);
    return Napi::ArrayBuffer::New(env, 0);
  }
  // Private and writable: a write (none is expected) copies the page instead of faulting.
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  close(fd);
  if (data == MAP_FAILED) fail("mmap");
  {
    std::lock_guard<std::mutex> lock(mappingsLock);
    mappings.push_back({reinterpret_cast<uintptr_t>(data), bytes});
  }
  return Napi::ArrayBuffer::New(env, data, bytes, unmap, new size_t(bytes));
}

void releaseMapped(const TensorView& view) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(view.data), end = begin + viewBytes(view);
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  std::lock_guard<std::mutex> lock(mappingsLock);
  for (const Mapping& m : mappings) {
    if (begin < m.begin || end > m.begin + m.bytes) continue;
    const uintptr_t from = (begin + page - 1) / page * page, to = end / page * page;
    if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
    return;
  }
}

}  // namespace nano
