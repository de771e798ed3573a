#pragma once
// banger-helper's command line, checked before the helper touches anything.

#include <cstdint>
#include <optional>
#include <string>

#include <sys/types.h>

#include "messages/helper.hpp"

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
  /// Root's network policy: the only bridge and subnet the helper makes,
  /// whatever a client asks. The bridge takes the subnet's first host
  /// address; the .vm DNS socket is port 53 of it.
  std::string bridge = "banger0";
  std::string subnet = "172.16.0.0/24";
  /// At most this many banger TAPs exist at once (create_tap refuses more).
  std::uint32_t max_taps = 256;
  /// At most this many connections are served at once (one thread each).
  std::uint32_t max_clients = 16;

  /// Filled by check(): the bridge's own address, "172.16.0.1/24".
  ipv4_cidr bridge_cidr{};
};

/// Nullopt when the options are usable (and bridge_cidr filled in), else a
/// sentence saying which is not.
std::optional<std::string> check(options& opts);

} // namespace banger::helper
