#pragma once
// `banger image build`: boots the base image as a build VM, runs the
// provisioning command through its agent (output streamed to the client),
// stops the VM and publishes its root disk as a new image; the build VM is
// deleted whatever happens. A failed command, a cancel or an error publishes
// nothing.
//
//   (atom::image, atom::build, image_build_request, caf::actor sink,
//    uint64 stream) -> image_info
//
// `sink` receives what vm.run's does: progress, started and output.

#include <memory>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/config.hpp"
#include "actors/interfaces.hpp"

namespace banger {

caf::actor spawn_image_builder(caf::actor_system& sys,
                               std::shared_ptr<const daemon_config> config,
                               vm_manager_actor manager, store_actor store);

} // namespace banger
