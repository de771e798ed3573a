#include "test/actors/fake_driver.hpp"

#include <algorithm>
#include <fstream>
#include <thread>

#include "services/error.hpp"

namespace banger::test {

fake_driver::fake_driver(std::string socket_dir)
    : socket_dir_(std::move(socket_dir)) {}

fake_driver::~fake_driver() {
  shutdown();
}

void fake_driver::record(std::string method, std::int64_t pid,
                         std::string arg) {
  std::lock_guard<std::mutex> guard(mtx_);
  calls_.push_back({std::move(method), pid, std::move(arg)});
}

bool fake_driver::gone(std::int64_t pid) const {
  auto it = vmms_.find(pid);
  return it == vmms_.end() || it->second.exited;
}

std::shared_ptr<fake_agent> fake_driver::start_agent(std::int64_t pid) {
  auto agent = std::make_shared<fake_agent>(socket_dir_ + "/agent-"
                                            + std::to_string(pid) + ".sock");
  bool silent = false;
  bool exits = true;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    silent = agent_silent_;
    exits = poweroff_exits_;
  }
  agent->set_silent(silent);
  if (exits)
    agent->on_poweroff([this, pid] { exit_vmm(pid); });
  return agent;
}

caf::expected<void> fake_driver::create_root_disk(const std::string& base,
                                                  const std::string& overlay) {
  record("create_root_disk", 0, overlay);
  caf::error err;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    err = root_disk_error_;
  }
  if (err)
    return err;
  std::ofstream out(overlay);
  out << "overlay of " << base << "\n";
  if (!out)
    return make_error(ec::internal, "fake driver: cannot write " + overlay);
  return caf::unit;
}

caf::expected<void> fake_driver::create_work_disk(const std::string& seed,
                                                  const std::string& disk,
                                                  std::uint64_t size_bytes) {
  record("create_work_disk", 0, disk);
  std::ofstream out(disk);
  out << "work disk of " << size_bytes << " bytes from '" << seed << "'\n";
  if (!out)
    return make_error(ec::internal, "fake driver: cannot write " + disk);
  return caf::unit;
}

caf::expected<vm_runtime> fake_driver::launch(const vm_launch_spec& spec) {
  record("launch", 0, spec.name);
  caf::error err;
  std::chrono::milliseconds delay{0};
  std::int64_t pid = 0;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    launches_.push_back(spec);
    err = launch_error_;
    delay = launch_delay_;
    if (!err)
      pid = next_pid_++;
  }
  if (delay.count() > 0)
    std::this_thread::sleep_for(delay);
  if (err)
    return err;
  auto agent = start_agent(pid);
  {
    std::lock_guard<std::mutex> guard(mtx_);
    vmms_[pid] = vmm{spec.id, spec.name, false, agent};
    last_pid_ = pid;
  }
  return vm_runtime{pid, agent->socket_path(), spec.dir + "/qmp.sock",
                    spec.dir + "/serial.log", "tcg"};
}

bool fake_driver::alive(std::int64_t pid, const std::string& id) {
  record("alive", pid, id);
  std::lock_guard<std::mutex> guard(mtx_);
  auto it = vmms_.find(pid);
  return it != vmms_.end() && !it->second.exited && it->second.id == id;
}

caf::expected<void> fake_driver::kill(const vm_runtime& rt,
                                      const std::string& id,
                                      std::chrono::milliseconds) {
  record("kill", rt.pid, id);
  exit_vmm(rt.pid);
  return caf::unit;
}

bool fake_driver::wait_exit(std::int64_t pid, const std::string& id,
                            std::chrono::milliseconds timeout) {
  record("wait_exit", pid, id);
  std::unique_lock<std::mutex> lock(mtx_);
  cv_.wait_for(lock, timeout, [&] { return shutdown_ || gone(pid); });
  if (shutdown_) {
    // Keeps a watcher that has not been told to stop from spinning.
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return false;
  }
  return gone(pid);
}

std::string fake_driver::accel_description() {
  return "tcg (fake driver)";
}

void fake_driver::fail_launch(caf::error err) {
  std::lock_guard<std::mutex> guard(mtx_);
  launch_error_ = std::move(err);
}

void fake_driver::fail_root_disk(caf::error err) {
  std::lock_guard<std::mutex> guard(mtx_);
  root_disk_error_ = std::move(err);
}

void fake_driver::set_launch_delay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> guard(mtx_);
  launch_delay_ = delay;
}

void fake_driver::set_agent_silent(bool silent) {
  std::lock_guard<std::mutex> guard(mtx_);
  agent_silent_ = silent;
}

void fake_driver::set_poweroff_exits(bool exits) {
  std::lock_guard<std::mutex> guard(mtx_);
  poweroff_exits_ = exits;
}

void fake_driver::set_agent_eof_delay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> guard(mtx_);
  eof_delay_ = delay;
}

void fake_driver::exit_vmm(std::int64_t pid) {
  std::shared_ptr<fake_agent> agent;
  std::chrono::milliseconds eof_delay{0};
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto it = vmms_.find(pid);
    if (it == vmms_.end() || it->second.exited)
      return;
    it->second.exited = true;
    agent = it->second.agent;
    eof_delay = eof_delay_;
  }
  cv_.notify_all();
  // The guest is gone: so is its end of the agent socket.
  if (agent)
    agent->disconnect(eof_delay);
}

vm_runtime fake_driver::add_vmm(const std::string& id, const std::string& name,
                                bool alive) {
  std::int64_t pid = 0;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    pid = next_pid_++;
  }
  std::shared_ptr<fake_agent> agent;
  if (alive)
    agent = start_agent(pid);
  {
    std::lock_guard<std::mutex> guard(mtx_);
    vmms_[pid] = vmm{id, name, !alive, agent};
  }
  return vm_runtime{pid,
                    agent ? agent->socket_path()
                          : socket_dir_ + "/gone-" + std::to_string(pid)
                                + ".sock",
                    "", "", "tcg"};
}

void fake_driver::shutdown() {
  std::vector<std::shared_ptr<fake_agent>> agents;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    shutdown_ = true;
    for (auto& [pid, v] : vmms_)
      if (v.agent)
        agents.push_back(v.agent);
  }
  cv_.notify_all();
  for (auto& a : agents)
    a->stop();
}

std::vector<driver_call> fake_driver::calls() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return calls_;
}

std::size_t fake_driver::count(std::string_view method) const {
  std::lock_guard<std::mutex> guard(mtx_);
  return static_cast<std::size_t>(
      std::count_if(calls_.begin(), calls_.end(),
                    [&](const driver_call& c) { return c.method == method; }));
}

std::size_t fake_driver::count(std::string_view method,
                               std::int64_t pid) const {
  std::lock_guard<std::mutex> guard(mtx_);
  return static_cast<std::size_t>(
      std::count_if(calls_.begin(), calls_.end(), [&](const driver_call& c) {
        return c.method == method && c.pid == pid;
      }));
}

std::vector<vm_launch_spec> fake_driver::launches() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return launches_;
}

std::int64_t fake_driver::last_pid() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return last_pid_;
}

bool fake_driver::running(std::int64_t pid) const {
  std::lock_guard<std::mutex> guard(mtx_);
  return !gone(pid);
}

std::shared_ptr<fake_agent> fake_driver::agent(std::int64_t pid) const {
  std::lock_guard<std::mutex> guard(mtx_);
  auto it = vmms_.find(pid);
  return it == vmms_.end() ? nullptr : it->second.agent;
}

} // namespace banger::test
