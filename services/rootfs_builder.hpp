#pragma once
// Turns an OCI image's ordered layer tarballs into an ext4 root filesystem
// image as an unprivileged user, without mounting anything (blocking; run in
// workers).
//
// The layers are merged into an in-memory tree (OCI whiteouts, opaque
// directories, later entries replacing earlier ones). Only regular file
// contents, directories and symlinks are written to a staging tree under
// work_dir, owned by us with private modes (0600 / 0700): an image's setuid
// binaries, root-owned files and device nodes never exist as such on the
// host. `mke2fs -d` copies the staging tree into <output>.tmp, then a debugfs
// script (editing the image file, not a mount) gives every inode its real
// mode, owner, mtime and xattrs and creates device nodes and fifos. The image
// is renamed to <output> only when all of that succeeded.

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "services/data_limits.hpp"
#include "services/layer_compression.hpp"

namespace banger {

/// One layer tarball (already downloaded and digest-checked).
struct layer_source {
  std::string path;
  layer_compression compression = layer_compression::none;
  /// Its digest, which errors name ("" names the path instead).
  std::string digest{};
};

struct rootfs_options {
  /// A fresh directory the builder may fill (staging tree, blobs, scripts);
  /// the caller removes it.
  std::string work_dir;
  /// The ext4 file to write (written as <output>.tmp, then renamed).
  std::string output;
  /// 0: content size + 30% + 64 MiB, rounded up to 1 MiB.
  std::uint64_t size_bytes = 0;
  /// Also write the image's /root as this ext4 file (the work seed VMs
  /// clone their work disk from; an empty one if the image has no /root
  /// directory); "" for none.
  std::string work_seed_output;
  /// The filesystem label (at most 16 bytes).
  std::string label = "banger-root";
  /// Checked between entries and steps; true makes the build fail with
  /// ec::cancelled.
  std::atomic<bool>* cancel = nullptr;
  /// Bounds on what the layers may make us write; the byte budget is also
  /// capped by half the free space of work_dir's filesystem (minus the
  /// margin): the content is staged there and the image needs as much again.
  data_limits limits;
};

struct rootfs_result {
  /// The size of the image file.
  std::uint64_t size_bytes = 0;
  /// Paths in the image (files, directories, links, nodes; not the root).
  std::uint64_t files = 0;
  /// The size of the work seed file (0 without one).
  std::uint64_t work_seed_bytes = 0;
};

/// A work seed's size when the image's /root holds little.
inline constexpr std::uint64_t min_work_seed_bytes = 64ull << 20;

/// Applies `layers` in order (the first is the lowest) and writes the result
/// to opts.output. Errors: ec::invalid_argument (an unreadable or unsafe
/// layer: an entry climbing above the root, a hardlink to something missing
/// or outside the tree, an entry under a symlink, a limit of opts.limits
/// passed; the message names the layer and the entry or limit),
/// ec::unavailable (not enough free space for the content, checked before
/// writing it; mke2fs/debugfs missing or failing), ec::cancelled,
/// ec::internal (I/O). On any error no <output>
/// (nor work seed) and no .tmp file is left behind.
caf::expected<rootfs_result> build_rootfs(const std::vector<layer_source>& layers,
                                          const rootfs_options& opts);

/// The reading half of build_rootfs, without mke2fs or debugfs: applies
/// `layers` and writes the staging tree to opts.work_dir/root (opts.output
/// and the work seed are not used). Returns the paths staged; errors as
/// build_rootfs. For the fuzz target (test/fuzz) and tests of the reader.
caf::expected<std::uint64_t> stage_rootfs(const std::vector<layer_source>& layers,
                                          const rootfs_options& opts);

} // namespace banger
