#!/usr/bin/env bash
# npm run test:asan: the native tests and the native chaos soak against the addon built
# with AddressSanitizer + UBSan (npm run build:asan). Node itself is not instrumented, so
# the ASan runtime is preloaded; leak detection is off (Node leaks by design at exit).
# Fails on a failing test, on a crashed worker, or on any sanitizer report in the output.
set -uo pipefail
cd "$(dirname "$0")/../.."

addon=build-asan/Release/nano_serving.node
if [ ! -f "$addon" ]; then
  echo "test:asan: $addon not found; run 'npm run build:asan' first" >&2
  exit 1
fi
asan_runtime=$(g++ -print-file-name=libasan.so)
if [ ! -e "$asan_runtime" ]; then
  echo "test:asan: the ASan runtime (libasan.so) was not found next to g++" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The environment reaches vitest's forked workers (child processes inherit it);
# test/reliability/asan-guard.test.ts checks that each worker really runs the ASan addon.
NANO_ASAN=1 \
NANO_SERVING_ADDON="$addon" \
LD_PRELOAD="$asan_runtime" \
ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  npx vitest run test/native test/reliability/chaos-native.test.ts test/reliability/asan-guard.test.ts "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

if grep -qE 'ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer|runtime error: ' "$log"; then
  echo "test:asan: sanitizer report in the output above" >&2
  status=1
fi
if [ "$status" -eq 0 ]; then echo "test:asan: clean (no sanitizer report)"; fi
exit "$status"
