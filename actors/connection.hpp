#pragma once
// One actor per client connection (detached: it writes to its socket). It
// decodes frames into typed requests, forwards them, and encodes replies and
// stream events; when the client goes away it cancels what the client ran.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace banger {

struct bridge_deps {
  vm_manager_actor manager;
  caf::actor library;
  caf::actor image_puller;
  caf::actor kernel_puller;
  caf::actor image_builder;
  caf::actor shutdown; // receives (atom::shutdown) on "daemon.stop"
};

/// Takes ownership of `fd`.
caf::actor spawn_connection(caf::actor_system& sys, int fd, bridge_deps deps);

} // namespace banger
