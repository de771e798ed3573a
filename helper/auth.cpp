#include "helper/auth.hpp"

#include <sys/socket.h>

namespace banger::helper {

std::optional<peer> peer_of(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return std::nullopt;
  return peer{cred.uid, cred.gid, cred.pid};
}

std::optional<std::string> check_peer(const peer& p, uid_t owner) {
  if (p.uid == owner || p.uid == 0)
    return std::nullopt;
  return "peer uid " + std::to_string(p.uid)
         + " is not the owner: banger-helper serves only uid "
         + std::to_string(owner)
         + " (its --owner-uid) and root; run bangerd as that user";
}

} // namespace banger::helper
