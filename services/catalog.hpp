#pragma once
// Catalogs: JSON indexes naming downloadable image and kernel bundles
// (docs/catalog.md). The sha256 a catalog gives is what makes a bundle
// trusted, so a catalog is validated strictly: a malformed entry fails the
// whole catalog with an error naming the catalog and the entry.
//
// Blocking (files, HTTP): call from detached actors or workers only.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace banger {

struct catalog_entry {
  /// "image" or "kernel".
  std::string kind;
  std::string name;
  /// Absolute: http(s) URL, file:// URL or path (relative URLs in the
  /// catalog are resolved against the catalog's location).
  std::string url;
  /// 64 lowercase hex digits.
  std::string sha256;
  /// The bundle's size in bytes (> 0).
  std::uint64_t size = 0;
  /// "amd64" or "arm64".
  std::string arch;
  /// Images: the kernel entry it boots with; may be empty.
  std::string kernel;
  std::string version;
  std::string description;
  /// The catalog it came from (its path or URL).
  std::string source;
};

/// Parses a catalog:
///   {"version": 1, "images": [{...}], "kernels": [{...}]}
/// Entries have name, url, sha256, size and arch (required), version and
/// description (optional), and for images kernel (optional). Unknown keys,
/// a bad name, sha256 or arch, a missing url or size, the same (kind, name,
/// arch) twice, or a version other than 1: ec::invalid_argument naming
/// `source` and the entry. Relative urls resolve against `source` (a path's
/// directory, or an http(s)/file URL's base); catalogs fetched over http(s)
/// may only name http(s) bundles.
caf::expected<std::vector<catalog_entry>>
parse_catalog(std::string_view json, const std::string& source);

/// `<dir of /proc/self/exe>/../share/banger/catalog.json`: the catalog the
/// installation ships.
std::string default_catalog_path();

struct catalog_load_options {
  /// Read before `sources`; a missing file is not an error. "" = none.
  std::string builtin = default_catalog_path();
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds read_timeout{30};
  std::atomic<bool>* cancel = nullptr;
};

/// Loads opts.builtin then each source (a path, file:// URL or http(s) URL)
/// in order. A later catalog's entries for a (kind, name) replace every
/// earlier entry of that (kind, name), whatever its arch. Errors (a missing
/// or unreachable source, a malformed catalog) name the source:
/// ec::not_found, ec::unavailable, ec::invalid_argument, ec::cancelled.
/// The result is sorted by kind, name and arch.
caf::expected<std::vector<catalog_entry>>
load_catalogs(const std::vector<std::string>& sources,
              const catalog_load_options& opts = {});

/// The entry of that kind and name for `arch` ("" matches any arch).
std::optional<catalog_entry>
find_entry(const std::vector<catalog_entry>& entries, std::string_view kind,
           std::string_view name, std::string_view arch);

/// "amd64" on x86-64, "arm64" on aarch64: the arch catalogs name.
std::string host_arch();

/// The local path of a file:// URL (host empty or "localhost", %XX
/// decoded); nullopt for anything else.
std::optional<std::string> file_url_path(std::string_view url);

} // namespace banger
