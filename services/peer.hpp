#pragma once
// Who is on the other end of a Unix socket (the kernel's SO_PEERCRED), and
// the rules banger's three processes apply to it:
//   - bangerd serves its owner (its own uid) and root, nobody else;
//   - the CLI talks to a daemon running as itself or root (root's CLI also
//     to the owner of the daemon's runtime directory: the owner root's
//     `daemon start` handed it to);
//   - bangerd talks to a banger-helper running as root (or as itself, which
//     could do nothing bangerd cannot do anyway).
// Socket modes already keep other users out; these checks make a socket
// someone else planted, or a mode gone wrong, harmless.

#include <string>

#include <caf/expected.hpp>
#include <sys/types.h>

namespace banger {

struct peer_cred {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

/// The credentials of the process that connected (or listened) on `fd`;
/// ec::unavailable when the kernel gives none.
caf::expected<peer_cred> peer_of(int fd);

/// Empty when `peer` is one of `allowed` uids, else a sentence naming the
/// peer's uid and pid, `role` ("bangerd at /run/...") and the uids allowed.
std::string check_peer_uid(const peer_cred& peer,
                           std::initializer_list<uid_t> allowed,
                           const std::string& role);

} // namespace banger
