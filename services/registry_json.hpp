#pragma once
// The registry's JSON documents, parsed without I/O: manifests, indexes
// (manifest lists), token server replies and image configs. Everything here
// comes from a registry nobody vouches for; the parsers never throw and
// refuse what they do not understand (registry_client adds which pull it
// was). Fuzzed by test/fuzz/fuzz_registry.cpp.

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "services/registry_client.hpp"

namespace banger {

inline constexpr std::string_view mt_oci_index =
    "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view mt_oci_manifest =
    "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view mt_docker_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view mt_docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";

/// A manifest document's media type: its "mediaType", else `content_type`
/// (the HTTP header, parameters dropped), else from its shape (an index has
/// "manifests", anything else is taken for an image manifest). Not a JSON
/// object: ec::protocol.
caf::expected<std::string> manifest_media_type(std::string_view body,
                                               std::string_view content_type);

/// The entries of an index or manifest list: each with a sha256 digest and a
/// size >= 0. Malformed: ec::protocol.
caf::expected<std::vector<oci_descriptor>> parse_index(std::string_view body);

struct image_manifest {
  oci_descriptor config;
  /// Lowest first.
  std::vector<oci_descriptor> layers;
};

/// An image manifest (OCI or Docker schema 2). schemaVersion other than 2:
/// ec::invalid_argument; malformed: ec::protocol.
caf::expected<image_manifest> parse_image_manifest(std::string_view body);

/// The token of a token server's reply: "token", else "access_token".
/// Malformed or no token: ec::protocol.
caf::expected<std::string> parse_token_reply(std::string_view body);

/// The platform an image config declares ("os", "architecture", "variant";
/// absent ones empty). Malformed: ec::protocol.
caf::expected<oci_platform> parse_image_config(std::string_view body);

/// How a layer of `media_type` is compressed; unsupported types:
/// ec::invalid_argument.
caf::expected<layer_compression>
layer_compression_of(std::string_view media_type);

} // namespace banger
