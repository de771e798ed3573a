#pragma once
// Who is on the other end of a connection: the kernel's SO_PEERCRED, checked
// against the configured owner on every connection.

#include <optional>
#include <string>

#include <sys/types.h>

namespace banger::helper {

struct peer {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

/// The peer's credentials, or nullopt (errno set) if the kernel gives none.
std::optional<peer> peer_of(int fd);

/// Nullopt when `p` may use the helper (uid == owner or root), else the
/// refusal sentence.
std::optional<std::string> check_peer(const peer& p, uid_t owner);

} // namespace banger::helper
