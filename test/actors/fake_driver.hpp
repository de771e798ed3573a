#pragma once
// A VMM driver without VMs: each launch "starts" a fake VMM (a pid in a
// table) whose agent socket is served by a fake_agent. Thread-safe: the
// daemon calls it from worker and watcher threads, the test from its own.
// Records every call; knobs make launches fail, slow, or their guests hang,
// and make a VMM exit on its own.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

#include "services/vmm.hpp"
#include "test/actors/fake_agent.hpp"

namespace banger::test {

struct driver_call {
  std::string method;   // "create_root_disk", "launch", "alive", "kill", ...
  std::int64_t pid = 0; // 0 where the call names no pid
  std::string arg;      // launch: VM name; create_root_disk: overlay path;
                        // create_work_disk: the disk's path
};

class fake_driver final : public vmm_driver {
public:
  /// Agent sockets go to `socket_dir` (short: sun_path has 108 bytes).
  explicit fake_driver(std::string socket_dir);
  ~fake_driver() override;

  // -- vmm_driver -----------------------------------------------------------

  caf::expected<void> create_root_disk(const std::string& base,
                                       const std::string& overlay) override;
  caf::expected<void> create_work_disk(const std::string& seed, const std::string& disk,
                                       std::uint64_t size_bytes) override;
  caf::expected<vm_runtime> launch(const vm_launch_spec& spec) override;
  bool alive(std::int64_t pid, const std::string& id) override;
  caf::expected<void> kill(const vm_runtime& rt, const std::string& id,
                           std::chrono::milliseconds grace) override;
  bool wait_exit(std::int64_t pid, const std::string& id,
                 std::chrono::milliseconds timeout) override;
  std::string accel_description() override;

  // -- knobs ----------------------------------------------------------------

  /// Every later launch fails with `err`; a default error clears this.
  void fail_launch(caf::error err);
  /// Every later create_root_disk fails with `err`; a default error clears.
  void fail_root_disk(caf::error err);
  /// Every later launch takes this long before it returns.
  void set_launch_delay(std::chrono::milliseconds delay);
  /// Agents of later launches never answer.
  void set_agent_silent(bool silent);
  /// Whether the guests of later launches power off when asked (default).
  void set_poweroff_exits(bool exits);
  /// When a VMM exits, its agent socket reports EOF only this much later
  /// (the daemon may notice the exit first). Default: at once.
  void set_agent_eof_delay(std::chrono::milliseconds delay);
  /// The VMM `pid` exits on its own (guest powered off, QEMU crashed).
  void exit_vmm(std::int64_t pid);
  /// A VMM that an earlier bangerd started, for adoption: `alive` false
  /// gives a pid that is already gone. The runtime names its agent socket.
  vm_runtime add_vmm(const std::string& id, const std::string& name,
                     bool alive);
  /// Test teardown: stops every agent, and makes wait_exit return false at
  /// once so that workers and watchers finish.
  void shutdown();

  // -- observations ---------------------------------------------------------

  std::vector<driver_call> calls() const;
  std::size_t count(std::string_view method) const;
  /// Calls of `method` that named `pid`.
  std::size_t count(std::string_view method, std::int64_t pid) const;
  std::vector<vm_launch_spec> launches() const;
  /// The pid of the newest VMM once its launch returned; 0 before.
  std::int64_t last_pid() const;
  /// True while the VMM `pid` runs.
  bool running(std::int64_t pid) const;
  /// The agent of VMM `pid`; null for unknown pids.
  std::shared_ptr<fake_agent> agent(std::int64_t pid) const;

private:
  struct vmm {
    std::string id;
    std::string name;
    bool exited = false;
    std::shared_ptr<fake_agent> agent;
  };

  void record(std::string method, std::int64_t pid, std::string arg = {});
  std::shared_ptr<fake_agent> start_agent(std::int64_t pid);
  bool gone(std::int64_t pid) const; // call with mtx_ held

  std::string socket_dir_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<driver_call> calls_;
  std::vector<vm_launch_spec> launches_;
  std::map<std::int64_t, vmm> vmms_;
  std::int64_t next_pid_ = 40001;
  std::int64_t last_pid_ = 0;
  caf::error launch_error_;
  caf::error root_disk_error_;
  std::chrono::milliseconds launch_delay_{0};
  std::chrono::milliseconds eof_delay_{0};
  bool agent_silent_ = false;
  bool poweroff_exits_ = true;
  bool shutdown_ = false;
};

} // namespace banger::test
