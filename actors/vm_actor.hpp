#pragma once
// One actor per VM: routes every operation through the lifecycle table
// (services/lifecycle.hpp) and runs the blocking parts in workers.

#include <memory>

#include <caf/actor_system.hpp>

#include "actors/config.hpp"
#include "actors/interfaces.hpp"
#include "actors/network.hpp"
#include "services/vmm.hpp"

namespace banger {

struct vm_deps {
  std::shared_ptr<const daemon_config> config;
  std::shared_ptr<vmm_driver> driver;
  store_actor store;
  vm_manager_actor manager;
  /// Disabled (no helper) means VMs boot without a NIC.
  vm_network net;
};

/// Spawns the actor for a stored (or just inserted) VM row.
vm_actor spawn_vm(caf::actor_system& sys, vm_deps deps, vm_record rec);

} // namespace banger
