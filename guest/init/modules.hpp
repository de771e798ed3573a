#pragma once
// Loading the kernel modules the initramfs carries. The kernel script writes
// /lib/modules/load-order: one path per line, relative to /lib/modules/VER,
// dependencies first (modprobe --show-depends order).

#include <string>

namespace banger::init {

/// Loads every module in `list_path` with finit_module(2). A module that
/// fails is reported and skipped (the boot may still work without it).
/// Returns how many loaded.
int load_modules(const std::string& list_path = "/lib/modules/load-order");

} // namespace banger::init
