#pragma once
// Internal to the vm actor (actors/vm_actor.cpp, vm_start.cpp, vm_stop.cpp):
// its state and the steps its handlers share. Not an interface: nothing else
// includes this.

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <caf/all.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/vm_actor.hpp"
#include "services/lifecycle.hpp"

namespace banger::vm_detail {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

struct vm_data {
  [[maybe_unused]] static inline const char* name = "vm";
  vm_deps deps;
  vm_record rec;
  vm_state state = vm_state::created;
  caf::actor agent;
  /// Set to stop the current VMM watcher thread.
  std::shared_ptr<std::atomic<bool>> watch_stop;
  /// Lifecycle operations (start, stop, delete, adopt) run one at a time;
  /// those arriving meanwhile wait here in arrival order.
  bool busy = false;
  std::deque<std::function<void()>> deferred;
};

using self_ptr = vm_actor::stateful_pointer<vm_data>;

/// Where a long operation reports progress: the requesting connection and
/// the request id its events belong to.
struct progress_sink {
  caf::actor sink;
  std::uint64_t stream = 0;
};

// -- shared steps (vm_actor.cpp) ------------------------------------------------
const std::string& vm_name(self_ptr self);
/// Saves the row and tells the manager the new view.
void persist(self_ptr self);
void progress(const progress_sink& to, std::string stage, std::string msg);
/// Lifecycle operations run one at a time; see vm_actor.cpp.
bool begin_op(self_ptr self, std::function<void()> op);
void end_op(self_ptr self);
vm_runtime runtime_of(const vm_record& rec);
void watch(self_ptr self);
void release_runtime(self_ptr self);
void become_stopped(self_ptr self, std::string why);
void kill_vmm(self_ptr self, std::function<void()> then);

// -- start and the VM's network (vm_start.cpp) ----------------------------------
void release_network(self_ptr self);
void publish_name(self_ptr self);
void do_start(self_ptr self, caf::typed_response_promise<vm_info> rp,
              progress_sink sink);

// -- stop, delete, adopt (vm_stop.cpp) ------------------------------------------
void stop_sequence(self_ptr self, std::uint32_t timeout_s,
                   std::function<void()> then);
void do_stop(self_ptr self, caf::typed_response_promise<vm_info> rp,
             std::uint32_t timeout_s);
void do_delete(self_ptr self, caf::typed_response_promise<bool> rp, bool force);
/// `vm kill`: `signal` (SIGKILL, SIGTERM, SIGINT or SIGHUP, checked by the
/// caller) to the VMM, then as a stop; the row ends stopped, not error.
void do_kill(self_ptr self, caf::typed_response_promise<vm_info> rp, int signal);
void do_adopt(self_ptr self);

} // namespace banger::vm_detail
