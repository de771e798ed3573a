#pragma once
// The last step of `banger image build`: a stopped build VM's root disk (a
// qcow2 overlay on the base image) becomes a new image of its own (blocking;
// run in a worker). The overlay is flattened into a sparse raw ext4 file with
// qemu-img, grown to the asked size (resize2fs after a forced e2fsck), and the
// finished directory is published with one rename; a failure leaves nothing.
// The disk is the build VM's work: every tool on it runs as a guest-file tool
// (services/host_tool.hpp: never root, limited), and the overlay's formats
// and backing file are pinned by us, not read from its header.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "messages/image.hpp"

namespace banger {

struct image_build_job {
  std::string name;
  std::string kernel;
  /// The image the build started from (recorded as "build:BASE").
  std::string base;
  std::string images_dir;
  /// The root disk of the stopped build VM.
  std::string root_disk;
  /// Its work disk (/root), which becomes the image's work seed; "" or a
  /// missing file for none.
  std::string work_disk;
  /// 0 keeps the base's size; smaller than the base is an error.
  std::uint64_t size_bytes = 0;
  std::string qemu_img = "qemu-img";
  /// The base image's rootfs.ext4 (raw): the overlay's backing file.
  std::string base_rootfs{};
};

/// The qemu-img argv flattening the overlay {0} (qcow2) over its backing
/// file {1} (raw) into {2} (raw, already of the right size and zeros).
std::vector<std::string> flatten_argv(const std::string& qemu_img);

/// Makes <images_dir>/<name>/{rootfs.ext4,work-seed.ext4,manifest.json};
/// not registered.
caf::expected<image_info> publish_root_disk(const image_build_job& job);

} // namespace banger
