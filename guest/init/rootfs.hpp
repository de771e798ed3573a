#pragma once
// The filesystem steps of the boot: the initramfs's own mounts, the real
// root, and switching into it.

#include <string>
#include <vector>

#include "guest/init/cmdline.hpp"

namespace banger::init {

/// Mounts devtmpfs on /dev, attaches the console, then mounts /proc and /sys
/// (already mounted is fine).
void mount_early();

/// Waits for params.root to appear and mounts it at /newroot. Fatal on failure.
void mount_root(const boot_params& params);

/// True if `root` lacks one of /dev, /proc, /sys, /run, /tmp as a real
/// directory (a FROM-scratch container image).
bool needs_frame(const std::string& root);

/// For such an image at /newroot: makes /newroot a tmpfs holding those
/// directories, with the image's top-level entries bound (or, symlinks,
/// copied) into it, so that nothing is written into the image. Does
/// nothing for an image that has them all. Fatal if the tmpfs fails.
void frame_root();

/// Moves /dev, /proc and /sys into /newroot, frees the initramfs (except the
/// top-level entries named in `keep`) and makes /newroot the root (mount
/// --move + chroot). Fatal on failure.
void switch_root(const std::vector<std::string>& keep = {});

/// Deletes what directory `dirfd` holds, staying on its filesystem; closes
/// `dirfd`.
void remove_contents(int dirfd);

/// A tmpfs on /run unless something is mounted there (systemd keeps it);
/// /run is created on the VM's disk if the image lacks it. False with a
/// console line if that failed.
bool mount_run();

/// devpts on /dev/pts (ptys for SSH sessions), unless already mounted.
void mount_devpts();

/// What programs of a container image expect when banger-init stays PID 1
/// (no init does it): devpts, a tmpfs on /dev/shm and /run (unless
/// mounted), /run/lock, /tmp (created on the VM's disk if the image lacks
/// it), the /dev/fd and /dev/std* links. Failures are console lines.
void mount_container_basics();

} // namespace banger::init
