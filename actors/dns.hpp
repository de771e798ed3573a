#pragma once
// The `.vm` DNS server: `<name>.vm` resolves to a running VM's IPv4 address
// over UDP on a configurable address. It answers only for the records it
// was given (put while a VM runs, del when it stops), NXDOMAIN for other
// names in the zone, REFUSED for everything else: it never forwards. The
// packet logic is services/dns_packet; this actor owns the socket.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/interfaces.hpp"

namespace banger {

struct dns_config {
  /// "ip:port" or "[ipv6]:port", numeric; port 0 picks a free one.
  std::string listen = "127.0.0.1:0";
  /// The zone answered for ("vm": `web.vm`).
  std::string zone = "vm";
  /// TTL of A records, in seconds: short, VMs come and go.
  std::uint32_t ttl_s = 5;
  /// A UDP socket already bound to `listen` (the server takes it over), or
  /// -1 to bind one here.
  int bound_fd = -1;
};

/// One published record.
struct dns_record {
  std::string name; // the VM's name, a single label
  std::string ipv4; // dotted quad
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dns_record& x) {
  return f(caf::meta::type_name("dns_record"), x.name, x.ipv4);
}

/// The DNS server. Spawned by spawn_dns; an exit message closes the socket.
using dns_actor = caf::typed_actor<
  /// While a VM runs: publishes (or replaces) `name` -> `ipv4`.
  /// ec::invalid_argument for an invalid VM name or address.
  caf::replies_to<atom::put, std::string, std::string>::with<bool>,
  /// When a VM stops or goes away: withdraws its record; false if none.
  caf::replies_to<atom::del, std::string>::with<bool>,
  /// Every published record, sorted by name.
  caf::replies_to<atom::list>::with<std::vector<dns_record>>,
  /// The bound address, "ip:port" with the real port (for port 0).
  caf::replies_to<atom::status>::with<std::string>>;

/// Binds the UDP socket, then spawns the actor detached. Fails with
/// ec::invalid_argument for a malformed address or zone, ec::unavailable
/// when the socket cannot be bound.
caf::expected<dns_actor> spawn_dns(caf::actor_system& sys,
                                   const dns_config& cfg);

} // namespace banger

CAF_BEGIN_TYPE_ID_BLOCK(banger_dns, caf::id_block::banger_daemon::end)
  CAF_ADD_TYPE_ID(banger_dns, (banger::dns_record))
  CAF_ADD_TYPE_ID(banger_dns, (std::vector<banger::dns_record>))
CAF_END_TYPE_ID_BLOCK(banger_dns)
