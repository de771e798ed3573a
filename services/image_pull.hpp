#pragma once
// `banger image pull REF` from an OCI registry, end to end (blocking; run in
// a worker): pull the manifest, config and layers (registry_client), flatten
// the layers into an ext4 root (rootfs_builder), write the image's manifest,
// and move the finished directory into place with one rename. Everything is
// made inside a staging directory next to the images; any failure or cancel
// removes it, so a pull leaves either a complete image directory or nothing.
// Registering the result in the store is the caller's step.

#include <atomic>
#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include <caf/expected.hpp>

#include "messages/image.hpp"
#include "messages/vm.hpp"
#include "services/oci_ref.hpp"

namespace banger {

/// The image name `image pull` picks when none is given: the repository's
/// last component, then the tag unless it is "latest" (or the digest's first
/// 12 hex digits), folded into banger's name rules. "debian:bookworm" ->
/// "debian-bookworm", "ghcr.io/a/tool:1.2" -> "tool-1-2".
std::string image_name_for(const oci_ref& ref);

using progress_fn = std::function<void(const progress_event&)>;

/// Wraps `fn` so that a stage reports at most every ~100 ms, plus its first
/// event and the one completing it (done == total).
progress_fn throttle_progress(progress_fn fn);

struct oci_pull_job {
  oci_ref ref;
  /// The image's name: its directory under images_dir.
  std::string name;
  /// The kernel VMs of this image boot by default.
  std::string kernel;
  /// The root filesystem's size; 0 fits the content with headroom.
  std::uint64_t size_bytes = 0;
  std::string images_dir;
  /// Registries reached over plain http besides loopback ones.
  std::set<std::string> insecure;
  /// Docker config file with credentials; "" = the default place.
  std::string docker_config;
  progress_fn on_progress;
  std::atomic<bool>* cancel = nullptr;
};

/// Pulls job.ref and makes <images_dir>/<name>/{rootfs.ext4,manifest.json}.
/// The result is not in the store yet (created_at empty). Errors start with
/// "pulling <ref>:" and say what to do; ec::already_exists if the directory
/// exists.
caf::expected<image_info> pull_oci_image(const oci_pull_job& job);

} // namespace banger
