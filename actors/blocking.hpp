#pragma once
// Runs blocking work (subprocesses, disk I/O, waiting on a VMM) off the
// scheduler: each job gets a detached actor of its own that runs the function
// once, replies with its result and quits. Scheduled actors request it and
// continue in `.then`, so they never block (CAF's manual: blocking calls
// starve the scheduler).
//
// Under CAF's test coordinator (the actor tests) the worker is a scheduled
// actor instead, so that `sched.run()` runs the job deterministically in the
// test's thread; a detached worker would enqueue its reply into the
// coordinator's unsynchronized job queue from another thread.
//
//   self->request(blocking(self, [=] { return driver->launch(spec); }),
//                 caf::infinite, atom::run_v)
//     .then([=](vm_runtime rt) { ... }, [=](caf::error& err) { ... });

#include <string>
#include <type_traits>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/local_actor.hpp>
#include <caf/result.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "messages/type_ids.hpp"
#include "services/import.hpp"

namespace banger {

/// F returns caf::expected<T> with a T that CAF can put in a message.
template <class F>
caf::actor blocking(caf::local_actor* self, F fn) {
  using expected_type = std::invoke_result_t<F&>;
  using value_type = typename expected_type::value_type;
  auto job = [fn = std::move(fn)](caf::event_based_actor* worker) mutable
    -> caf::behavior {
    return {
      [worker, fn = std::move(fn)](atom::run) mutable
      -> caf::result<value_type> {
        auto r = fn();
        worker->quit();
        return r;
      },
    };
  };
  auto& sys = self->home_system();
  if (dynamic_cast<caf::scheduler::test_coordinator*>(&sys.scheduler())
      != nullptr)
    return sys.spawn(std::move(job));
  return sys.spawn<caf::detached>(std::move(job));
}

/// Removes the directory holding `file_in_dir` (a failed or deleted import,
/// pull or build) in a worker, then runs `then` in `self`.
template <class Self, class F>
void discard_then(Self* self, std::string file_in_dir, F then) {
  self
    ->request(blocking(self,
                       [file_in_dir]() -> caf::expected<bool> {
                         discard_import(file_in_dir);
                         return true;
                       }),
              caf::infinite, atom::run_v)
    .then([=](bool) mutable { then(); },
          [=](caf::error&) mutable { then(); });
}

} // namespace banger
