#pragma once
// banger-helper's command line, checked before the helper touches anything.

#include <optional>
#include <string>

#include <sys/types.h>

namespace banger::helper {

struct options {
  std::string socket_path = "/run/banger/helper.sock";
  uid_t owner_uid = 0;
  std::string tap_prefix = "bgtap";
  /// Root under which path-taking operations (later: VMM sockets, loop
  /// devices) must lie. No current operation takes a path.
  std::string state_dir = "/var/lib/banger";
  /// Read end of a pipe from whoever started us (a root `bangerd`): when it
  /// reports end of file, that daemon is gone and so are we. -1: none (the
  /// system unit's helper lives on its own).
  int lifeline_fd = -1;
};

/// Nullopt when the options are usable, else a sentence saying which is not.
std::optional<std::string> check(const options& opts);

} // namespace banger::helper
