#pragma once
// The filesystem steps of the boot: the initramfs's own mounts, the real
// root, and switching into it.

#include "guest/init/cmdline.hpp"

namespace banger::init {

/// Mounts devtmpfs on /dev, attaches the console, then mounts /proc and /sys
/// (already mounted is fine).
void mount_early();

/// Waits for params.root to appear and mounts it at /newroot. Fatal on failure.
void mount_root(const boot_params& params);

/// Moves /dev, /proc and /sys into /newroot, frees the initramfs and makes
/// /newroot the root (mount --move + chroot). Fatal on failure.
void switch_root();

} // namespace banger::init
