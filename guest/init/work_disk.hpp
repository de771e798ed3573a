#pragma once
// The VM's work disk (services/work_disk.hpp on the host): found by its
// virtio serial, mounted on /root of the new root before the image's init
// runs. When it carries the "unseeded" marker (the image has no work seed),
// the image's own /root is copied into it first, owners, modes, times,
// symlinks and xattrs included, so the VM's home starts as the image's.

#include <string>

namespace banger::init {

/// The /dev path of a block device: `spec` itself, or for "serial:NAME" the
/// disk under `sys_block` (/sys/block) whose serial is NAME ("" if none yet).
std::string resolve_block_device(const std::string& spec,
                                 const std::string& sys_block = "/sys/block");

/// Copies the tree under `from` into the existing directory `to` (same
/// owners, modes, times, xattrs; symlinks as symlinks; device nodes and
/// fifos recreated). Returns how many entries failed (each said on the
/// console).
int copy_tree(const std::string& from, const std::string& to);

/// Waits up to `wait_s` for `spec`, mounts it (ext4) on <new_root>/root and
/// seeds it if asked. A failure is said on the console and /root stays on
/// the root disk: the VM still boots. False then.
bool mount_work_disk(const std::string& spec, const std::string& new_root,
                     int wait_s);

} // namespace banger::init
