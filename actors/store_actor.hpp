#pragma once
// The store actor: the only SQLite writer, detached because SQLite blocks.

#include <memory>

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"
#include "services/store.hpp"

namespace banger {

store_actor spawn_store(caf::actor_system& sys, std::unique_ptr<store> db);

} // namespace banger
