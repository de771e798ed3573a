#pragma once
// Bounds on what an untrusted archive (an OCI layer, a catalog bundle) may
// make banger write: a layer is a few MB of gzip or zstd that can expand to
// anything, hold a million empty files or one 130 KB "a/a/a/..." name.
// Every refusal names the archive, the limit and what to do.

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

namespace banger {

struct data_limits {
  /// Uncompressed content (file bytes as the archive declares them), summed
  /// over every layer of an image or every file of a bundle.
  std::uint64_t max_bytes = 64ull << 30;
  /// Entries, summed over every layer or the bundle.
  std::uint64_t max_entries = 1'000'000;
  /// Bytes of one entry's name or symlink target (PATH_MAX).
  std::size_t max_path = 4096;
  /// Directories on the way to an entry, symlinks resolved.
  std::size_t max_depth = 256;
  /// Space left free on the filesystem written to.
  std::uint64_t free_margin = 256ull << 20;
};

/// The bytes an unprivileged writer may still put on `dir`'s filesystem
/// (statvfs f_bavail). ec::unavailable names `dir` when it cannot be asked.
caf::expected<std::uint64_t> free_bytes(const std::string& dir);

/// What may be written below `dir`: max_bytes, or less when the filesystem's
/// free space minus free_margin is smaller (0 when that is negative).
caf::expected<std::uint64_t> byte_budget(const data_limits& limits,
                                         const std::string& dir);

} // namespace banger
