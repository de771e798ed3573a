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

/// Removes `path` and, if it is a directory, everything beneath it, without
/// recursion and with a bounded number of open descriptors: a tree from an
/// untrusted archive may be 60,000 levels deep (a 130 KB "a/a/a/..." name),
/// which overflows a recursive walk's stack and std::filesystem::remove_all's
/// one descriptor per level. Symlinks are removed, never followed; a
/// directory moved away while we are in it stops the walk (ec::bad_state)
/// rather than let ".." lead elsewhere. A missing `path` is fine. Errors
/// (ec::unavailable) name the entry that could not be removed.
caf::expected<void> remove_tree(const std::string& path);

/// Removes a staging directory and everything in it (remove_tree); errors
/// are ignored (it is only ever called on the way out of a failure).
void discard_dir(const std::string& dir);

/// Removes the staging directories (hidden ones) a crash left in `parent`;
/// returns how many. Called at daemon start, when no pull can be running.
int sweep_staging_dirs(const std::string& parent);

} // namespace banger
