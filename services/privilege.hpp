#pragma once
// The privilege split: `banger daemon start` run as root starts
// banger-helper (root) and runs bangerd as the owner, an ordinary user.
// These are the pieces: who the owner is, handing the owner its state
// directories, and dropping root for good.

#include <string>

#include <caf/expected.hpp>
#include <sys/types.h>

#include "services/paths.hpp"

namespace banger {

struct user_entry {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  std::string home;
};

/// A user by name or numeric uid; ec::not_found names the input.
caf::expected<user_entry> lookup_user(const std::string& name_or_uid);

/// The daemon's owner: `flag` when given; else, when we are root, the user
/// who ran sudo (SUDO_USER), else root itself (`warning` then says why that
/// is worse); else ourselves.
caf::expected<user_entry> daemon_owner(const std::string& flag,
                                       std::string* warning = nullptr);

/// Gives `owner` banger's state and runtime directories where an older
/// banger left them root's (fchown through a descriptor opened without
/// following symlinks; never what is in them, never their parents), after
/// checking the /tmp runtime fallback (check_runtime_dir). Creates nothing:
/// the owner creates what is missing once root is dropped (ensure_dirs).
caf::expected<void> hand_over_dirs(const paths& p, const user_entry& owner);

/// Becomes `owner` for good (supplementary groups, gid, uid; checked that
/// root cannot be regained) and points HOME, USER and LOGNAME at it.
caf::expected<void> drop_to(const user_entry& owner);

} // namespace banger
