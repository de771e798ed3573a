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

/// As root: starts banger-helper (next to bangerd; refused unless it is
/// root's and writable by root alone) for `owner_uid` on `net.helper_socket`
/// and waits until it answers. Socket, helper.log and helper.pid live in the
/// socket's directory, which must be root's (created 0755 if missing). The
/// helper ends when this process does (a pipe it watches closes), so each
/// daemon start and stop leaves no helper behind; an earlier one still named
/// by helper.pid is stopped first. VMs keep their TAPs meanwhile.
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
