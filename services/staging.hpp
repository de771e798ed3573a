#pragma once
// Directories that appear complete or not at all: work happens in a staging
// directory next to the final place (same filesystem), which one rename
// publishes. Used by imports, pulls and builds of images and kernels.

#include <string>

#include <caf/expected.hpp>

namespace banger {

/// Creates a fresh <parent>/.<what>-<random> (and parent if missing).
caf::expected<std::string> make_staging_dir(const std::string& parent,
                                            const std::string& what);

/// Renames `from` to `to`, never replacing an existing `to`
/// (ec::already_exists naming it).
caf::expected<void> publish_dir(const std::string& from, const std::string& to);

/// Removes a staging directory and everything in it; errors are ignored (it
/// is only ever called on the way out of a failure).
void discard_dir(const std::string& dir);

/// Removes the staging directories (hidden ones) a crash left in `parent`;
/// returns how many. Called at daemon start, when no pull can be running.
int sweep_staging_dirs(const std::string& parent);

} // namespace banger
