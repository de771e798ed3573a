#pragma once
// The daemon's network actors:
//
// - helper: the daemon-side proxy of banger-helper (the root process that
//   owns the bridge, TAPs and NAT rules). Detached: every operation is one
//   blocking round trip over a fresh connection (services/helper_client),
//   so a restarted helper is simply used by the next call, and operations
//   run in mailbox order (a NAT removal never overtakes the add before it).
// - tap_pool: keeps `size` idle TAPs created and opened, so that a start
//   does not wait for the helper; leases one per starting VM, deletes the
//   TAPs VMs give back, and at daemon start deletes banger's TAPs that no
//   running VM uses (leftovers of a crash or of an older daemon).
//
// A leased TAP travels as a descriptor number: the lease owns it, and the
// receiver must close it (the VMM keeps its own copy).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/dns.hpp"

namespace banger {

struct tap_lease {
  std::string name;
  std::int32_t fd = -1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tap_lease& x) {
  return f(caf::meta::type_name("tap_lease"), x.name, x.fd);
}

} // namespace banger

CAF_BEGIN_TYPE_ID_BLOCK(banger_net, caf::id_block::banger_dns::end)
  CAF_ADD_TYPE_ID(banger_net, (banger::tap_lease))
  CAF_ADD_ATOM(banger_net, banger::atom, tap, "tap")
  CAF_ADD_ATOM(banger_net, banger::atom, lease, "lease")
  CAF_ADD_ATOM(banger_net, banger::atom, release, "release")
  CAF_ADD_ATOM(banger_net, banger::atom, reconcile, "reconcile")
  CAF_ADD_ATOM(banger_net, banger::atom, guard, "guard")
CAF_END_TYPE_ID_BLOCK(banger_net)

namespace banger {

using helper_actor = caf::typed_actor<
  /// Creates TAP `name` (owned by the daemon's uid, enslaved to the bridge)
  /// and opens it; the lease owns the descriptor.
  caf::replies_to<atom::create, atom::tap, std::string>::with<tap_lease>,
  /// Deletes a TAP banger-helper made; a missing one is fine.
  caf::replies_to<atom::del, atom::tap, std::string>::with<bool>,
  /// Binds TAP `name` to its guest's IP and MAC: frames from it with
  /// another source are dropped (anti-spoofing).
  caf::replies_to<atom::guard, atom::tap, std::string, std::string,
                  std::string>::with<bool>,
  /// Every TAP banger-helper manages.
  caf::replies_to<atom::list, atom::tap>::with<std::vector<std::string>>,
  /// Adds (true) or removes (false) the masquerade rule of a guest address.
  caf::replies_to<atom::nat, std::string, bool>::with<bool>,
  /// The guest addresses that have a masquerade rule.
  caf::replies_to<atom::list, atom::nat>::with<std::vector<std::string>>>;

using tap_pool_actor = caf::typed_actor<
  /// A TAP for a starting VM: a warm one at once, else one made now.
  caf::replies_to<atom::lease>::with<tap_lease>,
  /// A VM is done with its TAP: delete it (and refill the pool).
  caf::reacts_to<atom::release, std::string>,
  /// Daemon start: deletes every banger TAP not in `in_use`, then fills the
  /// pool. Replies with how many were deleted.
  caf::replies_to<atom::reconcile, std::vector<std::string>>::with<std::uint32_t>,
  /// How many warm TAPs are ready now.
  caf::replies_to<atom::get>::with<std::uint32_t>,
  /// Daemon shutdown: deletes the warm TAPs (VMs keep theirs) and stops
  /// refilling. Replies with how many it deleted.
  caf::replies_to<atom::del>::with<std::uint32_t>,
  /// Self-message: make the next warm TAP if below size.
  caf::reacts_to<atom::tick>>;

/// What the VM actors need to give a VM a network; `helper` is null when
/// the daemon runs without networking.
struct vm_network {
  helper_actor helper;
  tap_pool_actor pool;
  dns_actor dns;
  std::string bridge_cidr; // "172.16.0.1/24": the guests' gateway + prefix
  std::string dns_server;  // address the guests resolve with ("" = none)
  bool enabled() const { return static_cast<bool>(helper); }
};

struct helper_actor_config {
  std::string socket;
  std::string bridge;
  std::uint32_t owner_uid = 0;
};

/// The real proxy (detached; blocks on banger-helper's socket).
helper_actor spawn_helper_actor(caf::actor_system& sys,
                                helper_actor_config cfg);

/// TAP names: `prefix` + 8 random [0-9a-f]; keeps `size` warm.
tap_pool_actor spawn_tap_pool(caf::actor_system& sys, helper_actor helper,
                              std::string prefix, std::uint32_t size);

} // namespace banger
