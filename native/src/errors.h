// Errors the addon reports to JS: an Error whose `code` is one of NativeErrorCode
// (src/native/binding.ts). Core code throws CodedError; only binding.cpp turns it
// into a Napi::Error.
#pragma once
#include <stdexcept>
#include <string>

namespace nano {

struct CodedError : std::runtime_error {
  std::string code;
  CodedError(std::string errorCode, const std::string& message)
      : std::runtime_error(message), code(std::move(errorCode)) {}
};

[[noreturn]] inline void fail(const char* code, const std::string& message) {
  throw CodedError(code, message);
}

}  // namespace nano
