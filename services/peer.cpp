#include "services/peer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <sys/socket.h>

#include "services/error.hpp"

namespace banger {

caf::expected<peer_cred> peer_of(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return make_error(ec::unavailable,
                      fmt::format("cannot read the peer's credentials "
                                  "(SO_PEERCRED): {}",
                                  std::strerror(errno)));
  return peer_cred{cred.uid, cred.gid, cred.pid};
}

std::string check_peer_uid(const peer_cred& peer,
                           std::initializer_list<uid_t> allowed,
                           const std::string& role) {
  if (std::find(allowed.begin(), allowed.end(), peer.uid) != allowed.end())
    return {};
  std::string uids;
  for (auto uid : allowed)
    if (uids.find(" " + std::to_string(uid) + ",") == std::string::npos)
      uids += " " + std::to_string(uid) + ",";
  uids.pop_back();
  return fmt::format("{} runs as uid {} (pid {}), not one of the uids trusted "
                     "here ({}): refusing to talk to it",
                     role, peer.uid, peer.pid, uids.substr(1));
}

} // namespace banger
