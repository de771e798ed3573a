#pragma once
// The last step of `banger image build`: a stopped build VM's root disk (a
// qcow2 overlay on the base image) becomes a new image of its own (blocking;
// run in a worker). The overlay is flattened into a sparse raw ext4 file with
// qemu-img, grown to the asked size (resize2fs after a forced e2fsck), and the
// finished directory is published with one rename; a failure leaves nothing.

#include <cstdint>
#include <string>

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
};

/// Makes <images_dir>/<name>/{rootfs.ext4,work-seed.ext4,manifest.json};
/// not registered.
caf::expected<image_info> publish_root_disk(const image_build_job& job);

} // namespace banger
