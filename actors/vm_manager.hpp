#pragma once
// The registry of VMs by name: name reservation, create orchestration, and
// routing of every per-VM request to that VM's actor.

#include <memory>
#include <vector>

#include <caf/actor_system.hpp>

#include "actors/config.hpp"
#include "actors/interfaces.hpp"
#include "actors/vm_actor.hpp"
#include "services/vmm.hpp"

namespace banger {

/// `net` gives new VMs an address and a NIC (disabled: no network).
/// `existing` are the rows found in state.db at daemon start: each gets a vm
/// actor that reconciles the row with what really runs.
vm_manager_actor spawn_vm_manager(caf::actor_system& sys,
                                  std::shared_ptr<const daemon_config> config,
                                  std::shared_ptr<vmm_driver> driver,
                                  store_actor store,
                                  std::vector<vm_record> existing,
                                  vm_network net = {});

} // namespace banger
