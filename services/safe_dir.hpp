#pragma once
// Directories that root opens on behalf of someone else, without following
// a path another user can change: every component is opened with openat on
// its parent's descriptor, and a symlink is followed only where root put it
// (in a directory that is root's and writable by root alone, like /home on
// hosts that link it elsewhere). What root then does goes through the
// descriptor (fchown, openat), so a rename mid-way changes nothing.

#include <string>

#include <caf/expected.hpp>
#include <sys/stat.h>
#include <sys/types.h>

#include "services/unique_fd.hpp"

namespace banger {

struct opened_dir {
  unique_fd fd;
  struct stat st {};
};

/// Opens directory `path` (absolute) as above. ec::not_found when a
/// component does not exist; ec::invalid_argument for a symlink, a
/// non-directory or a relative path, naming the component.
caf::expected<opened_dir> open_dir_nofollow(const std::string& path);

/// Opens, creating what is missing (mode 0755), a directory that must stay
/// root's: every component owned by root and writable by nobody else (a
/// sticky one like /tmp is allowed above root's own), no symlinks. Refuses
/// with the component and the fix otherwise.
caf::expected<opened_dir> open_root_dir(const std::string& path);

/// Root hands directory `path` to `uid`:`gid` when it exists and is root's
/// (made by an older banger); nothing when it is `uid`'s already or does not
/// exist yet (the owner creates it after root is dropped). Only that
/// directory, never what is in it. Another user's directory is an error.
caf::expected<void> hand_over_dir(const std::string& path, uid_t uid,
                                  gid_t gid);

/// Empty when root may run the program at `path`: a regular file owned by
/// root, writable by nobody else, in directories that are root's alone (else
/// anyone who can write one of them could swap what root runs). The error
/// names the file and how to install it.
caf::expected<void> check_root_executable(const std::string& path);

} // namespace banger
