#pragma once
// The rules of the bundle layout (internal to the bundle service, tested
// through unpack_bundle): which archive entries may exist where, and what an
// unpacked bundle must contain.

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "services/bundle.hpp"

namespace banger {

struct bundle_path {
  /// Components, "." and empty ones dropped ("./a//b/" -> {"a", "b"}).
  std::vector<std::string> comps;
  /// Why the name is refused ("is an absolute path"); "" if it is fine.
  std::string error;
};

/// Splits an archive entry name; absolute names and ".." are refused.
bundle_path split_bundle_path(const std::string& raw);

/// "a/b/c".
std::string join_bundle_path(const std::vector<std::string>& comps);

/// "" if an entry of libarchive `type` (AE_IF*) at `comps` belongs in a
/// `kind` bundle, else why not. `symlink` is the target of a symlink.
std::string check_bundle_entry(std::string_view kind,
                               const std::vector<std::string>& comps,
                               unsigned type, const char* symlink);

/// Checks an unpacked bundle in `dir` (absolute) and lists what it holds.
caf::expected<bundle_contents> check_bundle_contents(const std::string& archive,
                                                     const std::string& dir,
                                                     std::string_view kind);

} // namespace banger
