#pragma once
// The few file operations banger-init does inside the image: whole-file
// reads, atomic replacement (temp file + rename, so a crash leaves the old
// file or the new one) and directories with an exact mode. Failures come
// back as a sentence for the console, never as a crash.

#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace banger::init {

/// The whole file; nullopt if it cannot be read (errno tells why).
std::optional<std::string> read_whole_file(const std::string& path);

/// Writes `data` to a temp file beside `path`, sets `mode` (and owner
/// root:root when we are root), syncs it and renames it over `path`. A
/// symlink at `path` is replaced by the file, not followed. Returns "" on
/// success, else what failed.
std::string write_file_atomic(const std::string& path, std::string_view data,
                              mode_t mode);

/// True if `path` is a directory (symlinks followed).
bool is_directory(const std::string& path);

/// True if something exists at `path` (a dangling symlink counts).
bool exists(const std::string& path);

/// Creates `path` with exactly `mode`, owned by root when we are root, if it
/// is missing (its parent must exist). Returns "" on success (also when it
/// was there already), else what failed.
std::string make_directory(const std::string& path, mode_t mode);

} // namespace banger::init
