#pragma once
// Loading the kernel modules the initramfs carries. The kernel script writes
// /lib/modules/load-order: one path per line, relative to /lib/modules/VER,
// dependencies first (modprobe --show-depends order). A line "#late" splits
// it: what comes before is needed to mount the root and reach the agent, what
// comes after is loaded once the agent runs (it is only needed by the image).

#include <string>
#include <vector>

namespace banger::init {

enum class module_stage { early, late };

/// Reads the list; call before the root switch (it lives in the initramfs).
/// Returns the absolute paths of the stage's modules.
std::vector<std::string> module_list(module_stage stage,
                                     const std::string& list_path
                                     = "/lib/modules/load-order");

/// Opens every module now, so that the late ones can still be loaded after
/// the initramfs is gone. Missing ones are reported and skipped.
std::vector<int> open_modules(const std::vector<std::string>& paths);

/// Loads opened modules with finit_module(2) and closes the fds. A module
/// that fails is reported and skipped (the boot may work without it).
void load_modules(const std::vector<int>& fds,
                  const std::vector<std::string>& paths);

} // namespace banger::init
