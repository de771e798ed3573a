#pragma once
// A VM's work disk: a raw ext4 file of the VM's disk size that holds /root,
// so that a VM's home survives stop/start and can grow without touching the
// image (ARCHITECTURE.md, "Disks and per-VM identity"). It is cloned from the
// image's work seed (a small ext4 of the image's /root; reflink when the
// filesystem can, else a sparse copy) and grown with resize2fs: creating one
// costs the same for a 1 GiB and a 1 TiB disk. An image without a seed gets
// an empty filesystem carrying a marker file, and banger-init fills it from
// the image's /root on first boot. The guest finds the disk by its virtio
// serial (work_disk_serial). Blocking: run in workers.

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

#include "messages/work_disk.hpp"

namespace banger {

inline constexpr std::uint64_t min_work_disk_bytes = 64ull << 20;
inline constexpr std::uint64_t max_work_disk_bytes = 16ull << 40;

/// "" if `bytes` may be a VM's disk size, else why not (names the value and
/// the limits).
std::string check_disk_size(std::uint64_t bytes);

/// Creates the work disk `out` (must not exist) of `size_bytes` from `seed`
/// ("" for an image without one). Errors: ec::invalid_argument (a size out of
/// range, or smaller than the seed: the message gives the smallest size that
/// fits), ec::not_found (the seed is missing), ec::already_exists,
/// ec::unavailable (cp, mke2fs or resize2fs failed, e.g. no space). A
/// failure leaves no file behind.
caf::expected<void> create_work_disk(const std::string& seed, const std::string& out,
                                     std::uint64_t size_bytes);

/// Grows the work disk `disk` (of a stopped VM) to `size_bytes`; shrinking
/// is refused (ec::invalid_argument) because it could lose the user's files.
caf::expected<void> grow_work_disk(const std::string& disk, std::uint64_t size_bytes);

/// Copies the work disk `disk` (of a stopped VM) to `out` as a seed: checked
/// with e2fsck and shrunk to its contents plus some room (resize2fs -M).
caf::expected<void> seed_from_work_disk(const std::string& disk, const std::string& out);

} // namespace banger
