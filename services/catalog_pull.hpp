#pragma once
// `banger image pull NAME` / `banger kernel pull NAME` from a catalog entry
// (blocking; run in a worker): download the bundle (sha256-checked against
// the catalog), unpack it, check it is what the entry says, and publish the
// directory with one rename. All work happens in a staging directory next to
// the final one; a failure or cancel leaves nothing. Not registered in the
// store: that is the caller's step.

#include <atomic>
#include <string>

#include <caf/expected.hpp>

#include "messages/image.hpp"
#include "services/catalog.hpp"
#include "services/image_pull.hpp"

namespace banger {

struct catalog_pull_job {
  catalog_entry entry;
  /// The name of the result (the entry's name unless --name was given).
  std::string name;
  /// Images: the kernel VMs boot by default.
  std::string kernel;
  /// images_dir or kernels_dir.
  std::string parent_dir;
  progress_fn on_progress;
  std::atomic<bool>* cancel = nullptr;
};

/// <parent_dir>/<name>/{rootfs.ext4,manifest.json[,work-seed.ext4]}.
caf::expected<image_info> pull_catalog_image(const catalog_pull_job& job);

/// <parent_dir>/<name>/{vmlinux|vmlinuz,initrd.img?,modules/?,manifest.json}.
caf::expected<kernel_info> pull_catalog_kernel(const catalog_pull_job& job);

} // namespace banger
