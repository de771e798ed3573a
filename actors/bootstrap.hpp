#pragma once
// bangerd's start-up steps around the privilege split and the network,
// before any actor runs: start banger-helper (as root), find out whether
// networking works, and get the bridge and the DNS socket ready.

#include <string>

#include <caf/expected.hpp>
#include <sys/types.h>

#include "messages/helper.hpp"
#include "services/paths.hpp"
#include "services/settings.hpp"
#include "services/unique_fd.hpp"

namespace banger {

/// As root: starts banger-helper (next to bangerd) for `owner_uid` on
/// `net.helper_socket`, unless one answers there already, and waits until
/// it answers. Its output goes to p.helper_log(), its pid to
/// p.helper_pid_file(). It outlives the daemon, like the VMs whose TAPs it
/// manages.
caf::expected<void> ensure_helper(const paths& p, const network_settings& net,
                                  uid_t owner_uid);

/// The network as the daemon will run it.
struct network_state {
  bool enabled = false;
  /// Why networking is off, or a summary of how it runs.
  std::string note;
  ipv4_cidr bridge;        // the bridge's own address
  std::string dns_listen;  // "ip:port" for the DNS actor ("" = no DNS)
  unique_fd dns_fd;        // bound by the helper (port < 1024), else empty
  std::string dns_server;  // what guests use as resolver ("" = none)
};

/// Reaches banger-helper and makes sure the bridge exists. A helper that
/// does not answer means "no networking" (note says why); a helper that
/// answers but refuses the bridge is an error (the settings are wrong).
caf::expected<network_state> bring_up_network(const network_settings& net);

} // namespace banger
