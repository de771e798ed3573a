#pragma once
// Pulls an image's manifest, config and layer blobs from an OCI / Docker
// registry (distribution API v2) into a local directory, verified.
//
// Blocking: call from detached actors or workers only. Blobs land in
// <out_dir>/blobs/sha256/<hex>, each streamed to a temporary name while its
// sha256 is computed and renamed only when digest and size match; a failed or
// cancelled pull removes every file it wrote.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "services/oci_ref.hpp"
#include "services/layer_compression.hpp"

namespace banger {

/// An image platform as written in OCI indexes and configs.
struct oci_platform {
  std::string os;
  std::string architecture;
  /// "" means any.
  std::string variant;
  /// "os/architecture[/variant]".
  std::string str() const;
};

/// The platform of this host (linux/amd64 on x86-64, linux/arm64 on aarch64).
oci_platform host_platform();

/// One entry of an OCI index / Docker manifest list.
struct oci_descriptor {
  std::string media_type;
  std::string digest;
  std::int64_t size = 0;
  oci_platform platform;
};

/// Picks the manifest for `want` from an index's entries: same os and
/// architecture; want.variant, if set, must match too, else an entry without a
/// variant is preferred. Entries for "unknown" platforms (attestations) never
/// match. No match: ec::not_found naming `ref` and the platforms listed.
caf::expected<oci_descriptor>
select_platform(const std::vector<oci_descriptor>& entries,
                const oci_platform& want, const oci_ref& ref);

/// A `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`
/// challenge.
struct bearer_challenge {
  std::string realm;
  std::string service;
  std::string scope;
};

/// Parses a Bearer challenge (quoted or bare values, any order, commas inside
/// quotes). Not Bearer or no realm: ec::protocol.
caf::expected<bearer_challenge> parse_bearer_challenge(std::string_view header);

struct registry_credentials {
  std::string username;
  std::string password;
};

/// Looks up `registry` in the text of a docker config.json
/// (`auths.<key>.auth` = base64 "user:pass"; keys may carry a scheme and a
/// path, and Docker Hub is stored as "https://index.docker.io/v1/").
/// Nothing stored: nullopt. Malformed JSON or auth: ec::invalid_argument.
caf::expected<std::optional<registry_credentials>>
docker_config_credentials(std::string_view config_json,
                          const std::string& registry);

/// $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json.
std::string default_docker_config_path();

/// Progress of a pull, reported after every chunk written.
struct pull_progress {
  /// The blob being fetched (config or layer).
  std::string digest;
  /// 0-based layer index, -1 for the config blob.
  int layer = -1;
  int layer_count = 0;
  std::uint64_t blob_done = 0;
  std::uint64_t blob_total = 0;
  /// Config plus every layer.
  std::uint64_t overall_done = 0;
  std::uint64_t overall_total = 0;
};

struct pulled_layer {
  std::string path;
  std::string digest;
  std::string media_type;
  layer_compression compression = layer_compression::none;
  std::uint64_t size = 0;
};

struct pulled_image {
  oci_ref ref;
  /// The digest of the platform manifest (not of the index).
  std::string manifest_digest;
  /// The manifest as received, also stored as a blob.
  std::string manifest_path;
  std::string config_path;
  /// In application order (lowest first).
  std::vector<pulled_layer> layers;
  std::string os;
  std::string architecture;
};

struct pull_options {
  /// Where blobs/sha256/<hex> are written (created if missing).
  std::string out_dir;
  /// Registries (host[:port]) reached over plain http. localhost, 127.0.0.1
  /// and [::1] always are.
  std::set<std::string> insecure;
  oci_platform platform = host_platform();
  /// Docker config file for credentials; "" = default_docker_config_path().
  std::string docker_config;
  std::function<void(const pull_progress&)> on_progress;
  /// Checked between chunks; when it becomes true the pull stops with
  /// ec::cancelled and removes what it wrote.
  std::atomic<bool>* cancel = nullptr;
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds read_timeout{60};
};

/// Pulls `ref` for opts.platform. Errors name the reference and the cause:
/// ec::not_found (repository, tag or platform missing), ec::unavailable
/// (registry unreachable, 5xx), ec::bad_state (digest or size mismatch,
/// truncated body), ec::invalid_argument (unsupported manifest or layer
/// type), ec::protocol (malformed answers, auth refused), ec::internal (disk
/// writes), ec::cancelled.
caf::expected<pulled_image> pull_image(const oci_ref& ref,
                                       const pull_options& opts);

} // namespace banger
