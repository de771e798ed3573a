#pragma once
// image_puller and kernel_puller: one pull per name at a time. A second
// request for a name that is being pulled joins the first (it gets the same
// progress from then on and the same result); different names pull in
// parallel, each in a worker of its own. A pull works in a staging directory
// and registers the finished files in the store last, so a failed or
// cancelled pull leaves nothing. Pulling a name that exists from the same
// source answers with the existing one. Catalogs (the installation's plus
// config's [catalog] sources) are read in a worker for every pull that may
// need them, so an edited catalog counts without a restart.
//
//   (atom::pull, image_pull_request, caf::actor sink, uint64 stream)
//       -> image_info          (image_puller)
//   (atom::pull, kernel_pull_request, caf::actor sink, uint64 stream)
//       -> kernel_info         (kernel_puller)
//   (atom::cancel, caf::actor sink, uint64 stream)
//       the waiter gives up (ec::cancelled); the pull stops when none is left
//
// `sink` receives (atom::progress, stream, progress_event).

#include <memory>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/config.hpp"
#include "actors/interfaces.hpp"
#include "actors/network.hpp"
#include "actors/pull_plans.hpp"
#include "services/catalog.hpp"

namespace banger {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_entry& x) {
  return f(caf::meta::type_name("catalog_entry"), x.kind, x.name, x.url,
           x.sha256, x.size, x.arch, x.kernel, x.version, x.description,
           x.source);
}

} // namespace banger

CAF_BEGIN_TYPE_ID_BLOCK(banger_pull, caf::id_block::banger_net::end)
  CAF_ADD_TYPE_ID(banger_pull, (banger::catalog_entry))
  CAF_ADD_TYPE_ID(banger_pull, (std::vector<banger::catalog_entry>))
CAF_END_TYPE_ID_BLOCK(banger_pull)

namespace banger {

caf::actor spawn_image_puller(caf::actor_system& sys,
                              std::shared_ptr<const daemon_config> config,
                              store_actor store);

caf::actor spawn_kernel_puller(caf::actor_system& sys,
                               std::shared_ptr<const daemon_config> config,
                               store_actor store);

/// An image puller with the given planner and no catalogs (the actor tests
/// plan fake work with it).
caf::actor spawn_image_puller(caf::actor_system& sys, store_actor store,
                              plan_fn<image_info, image_pull_request> plans);

} // namespace banger
