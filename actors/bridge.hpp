#pragma once
// The bridge: listens on the daemon's Unix socket and gives every client a
// connection actor of its own.

#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/actor_addr.hpp>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/connection.hpp"

namespace banger {

class bridge {
public:
  /// Binds `socket_path` (mode 0600). Refuses if another daemon answers there;
  /// a stale socket file from a dead daemon is replaced.
  static caf::expected<std::unique_ptr<bridge>>
  listen(caf::actor_system& sys, const std::string& socket_path,
         bridge_deps deps);

  ~bridge();

  /// Stops accepting, removes the socket file and ends every connection
  /// (their clients see EOF; what they ran is cancelled).
  void close();

private:
  bridge() = default;
  int fd_ = -1;
  std::string path_;
  std::thread acceptor_;
  std::mutex mtx_;
  std::vector<caf::actor_addr> connections_;
};

} // namespace banger
