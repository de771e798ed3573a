#pragma once
// The contract between the host (services/work_disk.hpp, the VMM driver) and
// banger-init (guest/init/work_disk.hpp) about a VM's disks.

namespace banger {

/// The virtio-blk serials the guest finds its disks by ("serial:NAME" on
/// the kernel command line).
inline constexpr const char* root_disk_serial = "banger-root";
inline constexpr const char* work_disk_serial = "banger-work";

/// The file at the top of a work disk that asks banger-init to copy the
/// image's /root into it (then removed): the image had no work seed.
inline constexpr const char* work_disk_unseeded_marker = ".banger-unseeded";

} // namespace banger
