#pragma once
// Images and kernels: listing and importing local artifacts into banger's
// store. Copies happen in workers; a failed import leaves nothing behind.
//
//   (atom::image, atom::list)                          -> image_list
//   (atom::image, atom::import, image_import_request)  -> image_info
//   (atom::kernel, atom::list)                         -> kernel_list
//   (atom::kernel, atom::import, kernel_import_request)-> kernel_info
//   (atom::image|kernel, atom::del, name, bool force)   -> the deleted info;
//       force first deletes the VMs that use it (never images)

#include <memory>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/config.hpp"
#include "actors/interfaces.hpp"

namespace banger {

caf::actor spawn_library(caf::actor_system& sys,
                         std::shared_ptr<const daemon_config> config,
                         store_actor store, vm_manager_actor manager);

} // namespace banger
