#pragma once
// OCI / Docker image references ("debian", "ghcr.io/a/b:v1", "x@sha256:..."),
// parsed with Docker's normalisation rules so that what a user types for
// `docker pull` means the same image here. Pure: no I/O.

#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace banger {

struct oci_ref {
  /// The registry host[:port]; "registry-1.docker.io" for Docker Hub.
  std::string registry;
  /// The repository path, e.g. "library/debian".
  std::string repository;
  /// The tag; "latest" when neither a tag nor a digest was given, "" when
  /// only a digest was.
  std::string tag;
  /// "sha256:<64 hex>" or "".
  std::string digest;

  /// registry/repository[:tag][@digest].
  std::string str() const;
  /// The digest if there is one, else the tag (what /manifests/ wants).
  const std::string& reference() const { return digest.empty() ? tag : digest; }
};

/// Parses a reference the way `docker pull` does: docker.io and
/// index.docker.io become registry-1.docker.io, one-component Hub names get
/// "library/", a first component holding '.' or ':' or equal to "localhost"
/// is a registry. Errors (ec::invalid_argument) name the input and the fault.
caf::expected<oci_ref> parse_oci_ref(std::string_view text);

/// True for "sha256:" followed by 64 lowercase hex digits.
bool is_sha256_digest(std::string_view digest);

} // namespace banger
