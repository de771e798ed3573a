#pragma once
// The two worlds the actor tests run in.
//
// live_world: CAF's normal scheduler, the real store actor on a temp SQLite
// file, the real manager, the fake driver and fake agents (real Unix
// sockets). Tests talk through a scoped_actor with bounded waits.
//
// det_world: CAF's test coordinator (scheduler.policy = testing). Only
// scheduled actors may run there: the coordinator's job queue is not
// thread-safe, so nothing detached (store actor, agent actor, watcher
// threads) may send into it. It holds a scheduled store actor over a real
// store, a recording stand-in for the manager, and vm actors spawned
// directly; actors/blocking.hpp runs workers as scheduled actors here, so
// every step happens inside sched.run(), in the test's thread.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/config.hpp"
#include "actors/interfaces.hpp"
#include "services/error.hpp"
#include "services/store.hpp"
#include "test/actors/fake_driver.hpp"

namespace banger {

/// Lets GoogleTest print error codes by name.
inline void PrintTo(ec code, std::ostream* os) {
  *os << to_string(code);
}

} // namespace banger

namespace banger::test {

using namespace std::chrono_literals;

/// A fresh directory under /tmp, removed with everything in it.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

/// Polls `pred` every 10 ms until it holds; false once `timeout` passed.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = 10s);

/// Names of the entries of `dir` (empty if it does not exist).
std::vector<std::string> entries(const std::string& dir);

/// Paths under `root` and a small config with short timeouts.
daemon_config test_config(const std::string& root);

/// Adds kernel "k1" and images "default" and "alt" (both booting k1).
void seed(store& db, const std::string& root);

/// A row as the manager would insert it, in `state`, for VM `name`.
vm_record make_record(const daemon_config& cfg, const std::string& name,
                      const std::string& state, std::int64_t pid = 0);

/// What an exec/create sink received.
struct sink_log {
  std::mutex mtx;
  std::string out;                 // stdout bytes
  std::string err;                 // stderr bytes
  std::vector<std::string> stages; // progress stages
  std::size_t started = 0;         // (atom::started, ...) messages
  caf::actor agent;                // from the last (atom::started, ...)
  std::uint64_t call = 0;          // likewise: where stdin/signals go
  std::uint64_t stdin_taken = 0;   // (atom::credit, atom::input, ...) bytes
  std::string stdout_text() {
    std::lock_guard<std::mutex> guard(mtx);
    return out;
  }
};

caf::behavior output_sink(caf::event_based_actor* self,
                          std::shared_ptr<sink_log> log);

// -- live world
// -----------------------------------------------------------------

class live_world {
  temp_dir tmp_; // first: outlives everything below

public:
  live_world();
  ~live_world();

  /// Change before start().
  daemon_config config;
  std::shared_ptr<fake_driver> driver;

  /// Opens and seeds the store, lets `prepare` add rows, then spawns the
  /// store actor and the manager with every stored VM row.
  void start(const std::function<void(store&)>& prepare = {});

  const std::string& root() const { return tmp_.path(); }

  template <class T, class Handle> static caf::expected<T> await(Handle&& h) {
    caf::expected<T> out = make_error(ec::internal, "no reply");
    h.receive([&](T& x) { out = std::move(x); },
              [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  /// One request, bounded by reply_timeout.
  template <class T, class Handle, class... Ts>
  caf::expected<T> call(const Handle& h, Ts&&... xs) {
    return await<T>(self->request(h, reply_timeout, std::forward<Ts>(xs)...));
  }

  caf::expected<vm_info> create(vm_spec spec);
  caf::expected<vm_info> create(const std::string& name);
  caf::expected<vm_info> get(const std::string& name);
  caf::expected<vm_info> stop(const std::string& name,
                              std::uint32_t timeout_s = 0);
  caf::expected<vm_info> start_vm(const std::string& name);
  caf::expected<exec_result> exec(const std::string& name,
                                  std::vector<std::string> argv);
  caf::expected<bool> del(const std::string& name, bool force);
  std::vector<vm_info> list();
  /// The store's rows (through the store actor).
  std::vector<vm_record> rows();
  /// The directories under vms/.
  std::vector<std::string> vm_dirs() const;

  static constexpr auto reply_timeout = std::chrono::seconds(20);

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  store_actor store;
  vm_manager_actor manager;
  std::shared_ptr<sink_log> out;
  caf::actor sink;
};

// -- deterministic world
// ----------------------------------------------------------

/// What the manager stand-in saw.
struct manager_log {
  std::vector<vm_info> updates;
  std::vector<std::string> removed;
};

/// A reply collected by a scheduled requester.
template <class T> struct reply {
  bool done = false;
  caf::expected<T> value = make_error(ec::internal, "no reply");
};

class det_world {
public:
  det_world();
  ~det_world();

  temp_dir tmp;
  daemon_config config;
  std::shared_ptr<fake_driver> driver;
  std::shared_ptr<store> db; // also read by the test between runs
  std::shared_ptr<manager_log> mlog = std::make_shared<manager_log>();

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  store_actor store_handle;
  vm_manager_actor manager;

  /// Inserts `rec` into the store, makes its dir and spawns its vm actor.
  vm_actor spawn(const vm_record& rec);

  /// Sends a request from a fresh scheduled actor; the reply lands in the
  /// result once sched.run() got that far. Requests made one after the
  /// other reach the target in that order (the coordinator is FIFO).
  template <class T, class Handle, class... Ts>
  std::shared_ptr<reply<T>> ask(Handle h, Ts... xs) {
    auto out = std::make_shared<reply<T>>();
    spawned_.push_back(sys.spawn([=](caf::event_based_actor* self) {
      self->request(h, caf::infinite, xs...)
          .then(
              [=](T& x) {
                out->done = true;
                out->value = std::move(x);
              },
              [=](caf::error& err) {
                out->done = true;
                out->value = std::move(err);
              });
    }));
    return out;
  }

  /// The stored row of VM `id`.
  vm_record row(const std::string& id);

private:
  std::vector<caf::actor> spawned_;
};

} // namespace banger::test
