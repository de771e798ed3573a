#include "actors/vm_actor.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>

#include <caf/all.hpp>
#include <unistd.h>
#include <caf/typed_event_based_actor.hpp>

#include "actors/agent.hpp"
#include "actors/blocking.hpp"
#include "messages/helper.hpp"
#include "services/error.hpp"
#include "services/lifecycle.hpp"
#include "services/log.hpp"
#include "services/timefmt.hpp"
#include "services/vm_identity.hpp"

namespace banger {

namespace {

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

const std::string& vm_name(self_ptr self) {
  return self->state.rec.info.name;
}

void persist(self_ptr self) {
  auto& st = self->state;
  st.rec.info.state = to_string(st.state);
  self->send(st.deps.manager, atom::updated_v, st.rec.info);
  self->request(st.deps.store, caf::infinite, atom::put_v, st.rec)
    .then([](bool) {},
          [self](caf::error& err) {
            log::error("vm", "{}: cannot save state: {}", vm_name(self),
                       error_message(err));
          });
}

/// Where a long operation reports progress: the requesting connection and
/// the request id its events belong to.
struct progress_sink {
  caf::actor sink;
  std::uint64_t stream = 0;
};

void progress(const progress_sink& to, std::string stage, std::string msg) {
  if (to.sink)
    caf::anon_send(to.sink, atom::progress_v, to.stream,
                   progress_event{std::move(stage), std::move(msg)});
}

/// Marks the start of a lifecycle operation, or defers `op` until the
/// running one finishes. Returns true if the caller may go ahead now.
bool begin_op(self_ptr self, std::function<void()> op) {
  if (self->state.busy) {
    self->state.deferred.push_back(std::move(op));
    return false;
  }
  self->state.busy = true;
  return true;
}

void end_op(self_ptr self) {
  auto& st = self->state;
  st.busy = false;
  if (!st.deferred.empty()) {
    auto next = std::move(st.deferred.front());
    st.deferred.pop_front();
    next();
  }
}

vm_runtime runtime_of(const vm_record& rec) {
  return vm_runtime{rec.info.pid, rec.agent_socket, rec.qmp_socket,
                    rec.serial_log, rec.accel};
}

/// Watches the VMM from a thread of its own (pidfd poll in slices so that the
/// daemon can shut down) and tells the vm actor when the process is gone.
void watch(self_ptr self) {
  auto& st = self->state;
  if (st.watch_stop)
    st.watch_stop->store(true);
  auto stop = std::make_shared<std::atomic<bool>>(false);
  st.watch_stop = stop;
  auto pid = st.rec.info.pid;
  auto id = st.rec.info.id;
  auto driver = st.deps.driver;
  auto handle = caf::actor_cast<caf::actor>(self);
  std::thread([stop, pid, id, driver, handle] {
    while (!stop->load()) {
      if (driver->wait_exit(pid, id, 500ms)) {
        if (!stop->load())
          caf::anon_send(handle, atom::exited_v, std::int64_t{pid});
        return;
      }
    }
  }).detach();
}

/// Withdraws what the network gave the running VM: its DNS name, its NAT
/// rule and its TAP. Fire and forget: each is idempotent, and the helper
/// actor runs them in order, before any later start's requests.
void release_network(self_ptr self) {
  auto& st = self->state;
  auto& net = st.deps.net;
  if (!net.enabled() || st.rec.info.ip.empty())
    return;
  if (net.dns)
    caf::anon_send(net.dns, atom::del_v, st.rec.info.name);
  if (st.rec.info.nat)
    caf::anon_send(net.helper, atom::nat_v, st.rec.info.ip, false);
  if (!st.rec.tap.empty()) {
    caf::anon_send(net.pool, atom::release_v, st.rec.tap);
    st.rec.tap.clear();
  }
}

/// A running VM answers as <name>.vm.
void publish_name(self_ptr self) {
  auto& st = self->state;
  if (st.deps.net.dns && !st.rec.info.ip.empty())
    caf::anon_send(st.deps.net.dns, atom::put_v, st.rec.info.name,
                   st.rec.info.ip);
}

/// Forgets the VMM: stops the watcher and drops the agent connection.
void release_runtime(self_ptr self) {
  release_network(self);
  auto& st = self->state;
  if (st.watch_stop) {
    st.watch_stop->store(true);
    st.watch_stop.reset();
  }
  if (st.agent) {
    self->send_exit(st.agent, caf::exit_reason::user_shutdown);
    st.agent = nullptr;
  }
  st.rec.info.pid = 0;
}

void become_stopped(self_ptr self, std::string why) {
  release_runtime(self);
  self->state.state = vm_state::stopped;
  self->state.rec.info.last_error = std::move(why);
  persist(self);
}

/// Kills the VMM (if any) in a worker, then runs `then`.
void kill_vmm(self_ptr self, std::function<void()> then) {
  auto& st = self->state;
  if (st.rec.info.pid == 0) {
    then();
    return;
  }
  auto driver = st.deps.driver;
  auto rt = runtime_of(st.rec);
  auto id = st.rec.info.id;
  self
    ->request(blocking(self,
                       [=]() -> caf::expected<bool> {
                         auto r = driver->kill(rt, id, 1s);
                         if (!r)
                           return std::move(r.error());
                         return true;
                       }),
              caf::infinite, atom::run_v)
    .then([then](bool) { then(); },
          [self, then](caf::error& err) {
            log::error("vm", "{}: kill failed: {}", vm_name(self),
                       error_message(err));
            then();
          });
}

// -- start ---------------------------------------------------------------------

void fail_start(self_ptr self, caf::typed_response_promise<vm_info> rp,
                caf::error err) {
  auto msg = error_message(err);
  log::warn("vm", "{}: start failed: {}", vm_name(self), msg);
  kill_vmm(self, [self, rp, err, msg]() mutable {
    release_runtime(self);
    self->state.state = vm_state::error;
    self->state.rec.info.last_error = msg;
    persist(self);
    rp.deliver(err);
    end_op(self);
  });
}

/// Per-VM files the guest reads through fw_cfg (see guest/init/provision),
/// made at create in the VM's directory.
constexpr const char* fw_cfg_names[] = {
  "authorized_keys", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub",
  "dropbear_ed25519_host_key"};

/// Gives a starting VM its NIC: leases a TAP, adds the NAT rule if the VM
/// has --nat, and puts the guest's address, gateway and resolver on its
/// kernel command line (banger-init configures the interface from them).
/// Runs `then` with the completed spec, or `fail`; whatever was acquired is
/// recorded in the VM's row and released by release_network.
void attach_network(self_ptr self, vm_launch_spec spec,
                    std::function<void(vm_launch_spec)> then,
                    std::function<void(caf::error)> fail) {
  auto& st = self->state;
  auto net = st.deps.net;
  if (!net.enabled() || st.rec.info.ip.empty()) {
    then(std::move(spec));
    return;
  }
  auto bridge = parse_ipv4_cidr(net.bridge_cidr);
  if (!bridge) {
    fail(make_error(ec::internal, "the bridge address " + net.bridge_cidr
                                    + " is malformed (this is a bug in banger)"));
    return;
  }
  self->request(net.pool, caf::infinite, atom::lease_v)
    .then(
      [=](tap_lease& lease) mutable {
        auto& st = self->state;
        st.rec.tap = lease.name;
        spec.tap_fd = lease.fd;
        spec.mac = st.rec.info.mac;
        spec.extra_cmdline.push_back("banger.ip=" + st.rec.info.ip + "/"
                                     + std::to_string(bridge->prefix));
        spec.extra_cmdline.push_back("banger.gw=" + to_string(bridge->addr));
        spec.extra_cmdline.push_back("banger.mac=" + st.rec.info.mac);
        if (!net.dns_server.empty())
          spec.extra_cmdline.push_back("banger.dns=" + net.dns_server);
        if (!st.rec.info.nat) {
          then(std::move(spec));
          return;
        }
        self->request(net.helper, caf::infinite, atom::nat_v, st.rec.info.ip,
                      true)
          .then([=](bool) mutable { then(std::move(spec)); },
                [=](caf::error& err) mutable {
                  ::close(spec.tap_fd);
                  fail(err);
                });
      },
      [=](caf::error& err) mutable { fail(err); });
}

void do_start(self_ptr self, caf::typed_response_promise<vm_info> rp,
              progress_sink sink) {
  auto& st = self->state;
  auto next = vm_state_transition(st.state, vm_op::start, vm_name(self));
  if (!next) {
    rp.deliver(next.error());
    end_op(self);
    return;
  }
  st.state = *next;
  st.rec.info.last_error.clear();
  persist(self);
  auto t0 = clock::now();
  // Kernel and image are looked up on every start: they hold the paths.
  self->request(st.deps.store, caf::infinite, atom::kernel_v, atom::get_v,
                st.rec.info.kernel)
    .then(
      [=](kernel_info& k) {
        self->request(self->state.deps.store, caf::infinite, atom::image_v,
                      atom::get_v, self->state.rec.info.image)
          .then(
            [=](image_info& img) {
              auto& st = self->state;
              vm_launch_spec spec;
              spec.id = st.rec.info.id;
              spec.name = st.rec.info.name;
              spec.dir = st.rec.info.dir;
              spec.vmlinux = k.vmlinux;
              spec.initrd = k.initrd;
              spec.root_disk = st.rec.root_disk;
              spec.vcpu = st.rec.info.vcpu;
              spec.memory_mib = st.rec.info.memory_mib;
              auto driver = st.deps.driver;
              auto base = img.rootfs;
              attach_network(self, std::move(spec), [=](vm_launch_spec spec) {
              progress(sink, "boot", "starting the VMM");
              self
                ->request(
                  blocking(self,
                           [=]() mutable -> caf::expected<vm_runtime> {
                             for (auto* name : fw_cfg_names) {
                               auto path = spec.dir + "/" + name;
                               if (std::filesystem::exists(path))
                                 spec.fw_cfg_files.emplace_back(name, path);
                             }
                             auto launched = [&]() -> caf::expected<vm_runtime> {
                               if (!std::filesystem::exists(spec.root_disk)) {
                                 auto r = driver->create_root_disk(
                                   base, spec.root_disk);
                                 if (!r)
                                   return std::move(r.error());
                               }
                               return driver->launch(spec);
                             }();
                             // QEMU has its own copy of the TAP now.
                             if (spec.tap_fd >= 0)
                               ::close(spec.tap_fd);
                             return launched;
                           }),
                  caf::infinite, atom::run_v)
                .then(
                  [=](vm_runtime& rt) {
                    auto& st = self->state;
                    st.rec.info.pid = rt.pid;
                    st.rec.agent_socket = rt.agent_socket;
                    st.rec.qmp_socket = rt.qmp_socket;
                    st.rec.serial_log = rt.serial_log;
                    st.rec.accel = rt.accel;
                    persist(self);
                    watch(self);
                    st.agent = spawn_agent(self, rt.agent_socket,
                                           st.rec.info.name);
                    progress(sink, "agent", "waiting for the guest agent");
                    std::uint32_t timeout_ms
                      = st.deps.config->boot_timeout_s * 1000;
                    self
                      ->request(st.agent, caf::infinite, atom::ready_v,
                                timeout_ms)
                      .then(
                        [=](agent_health&) mutable {
                          auto& st = self->state;
                          st.state = vm_state::running;
                          st.rec.info.boot_ms = static_cast<std::uint64_t>(
                            std::chrono::duration_cast<
                              std::chrono::milliseconds>(clock::now() - t0)
                              .count());
                          st.rec.info.started_at = now_rfc3339();
                          persist(self);
                          log::info("vm", "{}: running (pid {}, ready in {} ms)",
                                    vm_name(self), st.rec.info.pid,
                                    st.rec.info.boot_ms);
                          publish_name(self);
                          rp.deliver(st.rec.info);
                          end_op(self);
                        },
                        [=](caf::error& err) {
                          auto msg = error_message(err);
                          fail_start(self, rp,
                                     make_error(ec::vmm,
                                                msg + " (serial log: "
                                                  + self->state.rec.serial_log
                                                  + ")"));
                        });
                  },
                  [=](caf::error& err) { fail_start(self, rp, err); });
              }, [=](caf::error err) { fail_start(self, rp, std::move(err)); });
            },
            [=](caf::error& err) { fail_start(self, rp, err); });
      },
      [=](caf::error& err) { fail_start(self, rp, err); });
}

// -- stop ----------------------------------------------------------------------

/// sync -> poweroff -> wait -> SIGKILL, each step only if the previous one
/// did not end the VMM; always ends with the VMM gone and the row stopped.
void stop_sequence(self_ptr self, std::uint32_t timeout_s,
                   std::function<void()> then) {
  auto& st = self->state;
  auto driver = st.deps.driver;
  auto rt = runtime_of(st.rec);
  auto id = st.rec.info.id;
  auto wait_then_kill = [=] {
    self
      ->request(blocking(self,
                         [=]() -> caf::expected<bool> {
                           if (rt.pid == 0)
                             return true;
                           if (driver->wait_exit(rt.pid, id,
                                                 std::chrono::seconds(
                                                   timeout_s)))
                             return true;
                           auto r = driver->kill(rt, id, 1s);
                           if (!r)
                             return std::move(r.error());
                           return false;
                         }),
                caf::infinite, atom::run_v)
      .then(
        [=](bool graceful) {
          if (!graceful)
            log::warn("vm", "{}: guest did not power off within {} s; killed",
                      vm_name(self), timeout_s);
          become_stopped(self, "");
          then();
        },
        [=](caf::error& err) {
          log::error("vm", "{}: stop failed: {}", vm_name(self),
                     error_message(err));
          become_stopped(self, error_message(err));
          then();
        });
  };
  if (!st.agent) {
    // Without an agent there is nobody to power off the guest: kill it.
    kill_vmm(self, [=] {
      become_stopped(self, "");
      then();
    });
    return;
  }
  auto agent = st.agent;
  auto poweroff = [=] {
    self->request(agent, 3s, atom::poweroff_v)
      .then([=](bool) { wait_then_kill(); },
            [=](caf::error&) { wait_then_kill(); });
  };
  self->request(agent, 5s, atom::sync_v)
    .then([=](bool) { poweroff(); }, [=](caf::error&) { poweroff(); });
}

void do_stop(self_ptr self, caf::typed_response_promise<vm_info> rp,
             std::uint32_t timeout_s) {
  auto& st = self->state;
  auto next = vm_state_transition(st.state, vm_op::stop, vm_name(self));
  if (!next) {
    rp.deliver(next.error());
    end_op(self);
    return;
  }
  st.state = *next;
  persist(self);
  if (timeout_s == 0)
    timeout_s = st.deps.config->stop_timeout_s;
  stop_sequence(self, timeout_s, [=]() mutable {
    rp.deliver(self->state.rec.info);
    end_op(self);
  });
}

// -- delete --------------------------------------------------------------------

void remove_everything(self_ptr self, caf::typed_response_promise<bool> rp) {
  auto& st = self->state;
  auto dir = st.rec.info.dir;
  auto vms_dir = st.deps.config->paths.vms_dir();
  auto paths = st.deps.config->paths;
  auto name = st.rec.info.name;
  auto ip = st.rec.info.ip;
  self
    ->request(blocking(self,
                       [=]() -> caf::expected<bool> {
                         // Only ever a directory named by id under vms/.
                         std::filesystem::path p(dir);
                         if (p.parent_path() != std::filesystem::path(vms_dir))
                           return make_error(ec::internal,
                                             "refusing to remove " + dir
                                               + ": not under " + vms_dir);
                         std::error_code ec;
                         std::filesystem::remove_all(p, ec);
                         if (!ip.empty())
                           if (auto f = forget_vm_identity(paths, name); !f)
                             log::warn("vm", "{}: {}", name, error_message(f.error()));
                         if (ec)
                           return make_error(ec::internal, "cannot remove "
                                                             + dir + ": "
                                                             + ec.message());
                         return true;
                       }),
              caf::infinite, atom::run_v)
    .then(
      [=](bool) {
        self
          ->request(self->state.deps.store, caf::infinite, atom::del_v,
                    self->state.rec.info.id)
          .then(
            [=](bool) mutable {
              self->send(self->state.deps.manager, atom::removed_v,
                         vm_name(self));
              rp.deliver(true);
              self->quit();
            },
            [=](caf::error& err) mutable {
              rp.deliver(err);
              end_op(self);
            });
      },
      [=](caf::error& err) mutable {
        rp.deliver(err);
        end_op(self);
      });
}

void do_delete(self_ptr self, caf::typed_response_promise<bool> rp,
               bool force) {
  auto& st = self->state;
  if (is_active(st.state)) {
    if (!force) {
      auto refusal = vm_state_transition(st.state, vm_op::delete_,
                                         vm_name(self));
      rp.deliver(refusal ? make_error(ec::bad_state, "VM is busy")
                         : refusal.error());
      end_op(self);
      return;
    }
    st.state = vm_state::stopping;
    persist(self);
    // -f: the disk is about to be deleted, so there is nothing to sync and
    // no reason to wait for the guest: quit the VMM at once.
    kill_vmm(self, [=] {
      become_stopped(self, "");
      remove_everything(self, rp);
    });
    return;
  }
  remove_everything(self, rp);
}

// -- adopt (daemon start) ------------------------------------------------------

void do_adopt(self_ptr self) {
  auto& st = self->state;
  auto stored = parse_vm_state(st.rec.info.state).value_or(vm_state::error);
  st.state = stored;
  if (!is_active(stored) || st.rec.info.pid == 0) {
    if (is_active(stored))
      become_stopped(self, "the VM was not running when bangerd started");
    else
      self->send(st.deps.manager, atom::updated_v, st.rec.info);
    end_op(self);
    return;
  }
  auto driver = st.deps.driver;
  auto pid = st.rec.info.pid;
  auto id = st.rec.info.id;
  self
    ->request(blocking(self,
                       [=]() -> caf::expected<bool> {
                         return driver->alive(pid, id);
                       }),
              caf::infinite, atom::run_v)
    .then(
      [=](bool alive) {
        auto& st = self->state;
        if (!alive) {
          log::info("vm", "{}: VMM {} is gone; marking stopped",
                    vm_name(self), pid);
          become_stopped(self, "the VMM exited while bangerd was not running");
          end_op(self);
          return;
        }
        watch(self);
        st.agent = spawn_agent(self, st.rec.agent_socket, st.rec.info.name);
        self
          ->request(st.agent, caf::infinite, atom::ready_v,
                    st.deps.config->boot_timeout_s * 1000)
          .then(
            [=](agent_health&) {
              log::info("vm", "{}: adopted running VMM {}", vm_name(self),
                        pid);
              publish_name(self);
              self->state.state = vm_state::running;
              persist(self);
              end_op(self);
            },
            [=](caf::error& err) {
              log::warn("vm", "{}: adopted VMM {} but its agent is silent: {}",
                        vm_name(self), pid, error_message(err));
              self->state.state = vm_state::stopping;
              stop_sequence(self, 0, [=] { end_op(self); });
            });
      },
      [=](caf::error&) { end_op(self); });
}

/// The agent of a running VM, or why there is none (exec and ports).
caf::expected<caf::actor> guest_agent(self_ptr self) {
  auto& st = self->state;
  auto ok = vm_state_transition(st.state, vm_op::exec, vm_name(self));
  if (!ok)
    return std::move(ok.error());
  if (!st.agent)
    return make_error(ec::agent,
                      "VM \"" + vm_name(self) + "\" has no agent connection");
  return st.agent;
}

vm_actor::behavior_type vm_impl(self_ptr self, vm_deps deps, vm_record rec) {
  self->state.deps = std::move(deps);
  self->state.rec = std::move(rec);
  self->state.state
    = parse_vm_state(self->state.rec.info.state).value_or(vm_state::created);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Daemon shutdown: stop watching and close the agent connection (its
    // reader thread would keep the daemon alive), leave the VMM running.
    if (self->state.watch_stop)
      self->state.watch_stop->store(true);
    if (self->state.agent)
      self->send_exit(self->state.agent, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](atom::start, caf::actor to,
        std::uint64_t stream) -> caf::result<vm_info> {
      auto rp = self->make_response_promise<vm_info>();
      progress_sink sink{to, stream};
      if (begin_op(self, [=] { do_start(self, rp, sink); }))
        do_start(self, rp, sink);
      return rp;
    },
    [=](atom::stop, std::uint32_t timeout_s) -> caf::result<vm_info> {
      auto rp = self->make_response_promise<vm_info>();
      if (begin_op(self, [=] { do_stop(self, rp, timeout_s); }))
        do_stop(self, rp, timeout_s);
      return rp;
    },
    [=](atom::exec, exec_spec& spec, caf::actor sink,
        std::uint64_t stream) -> caf::result<exec_result> {
      auto agent = guest_agent(self);
      if (!agent)
        return std::move(agent.error());
      auto rp = self->make_response_promise<exec_result>();
      self->request(*agent, caf::infinite, atom::exec_v, std::move(spec),
                    sink, stream)
        .then([=](exec_result& r) mutable { rp.deliver(r); },
              [=](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [=](atom::del, bool force) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      if (begin_op(self, [=] { do_delete(self, rp, force); }))
        do_delete(self, rp, force);
      return rp;
    },
    [=](atom::get) -> vm_info {
      auto info = self->state.rec.info;
      info.state = to_string(self->state.state);
      return info;
    },
    [=](atom::ports) -> caf::result<agent_ports_reply> {
      auto agent = guest_agent(self);
      if (!agent)
        return std::move(agent.error());
      auto rp = self->make_response_promise<agent_ports_reply>();
      self->request(*agent, std::chrono::seconds(10), atom::ports_v)
        .then([=](agent_ports_reply& r) mutable { rp.deliver(std::move(r)); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](atom::put, atom::nat, bool on) -> caf::result<vm_info> {
      auto& st = self->state;
      if (st.busy || is_active(st.state))
        return make_error(ec::bad_state,
                          "VM \"" + vm_name(self) + "\" is " + to_string(st.state)
                            + "; NAT changes while it is stopped: banger vm stop "
                            + vm_name(self) + ", then retry");
      if (on && (st.rec.info.ip.empty() || !st.deps.net.enabled()))
        return make_error(ec::unavailable,
                          "VM \"" + vm_name(self) + "\" has no network ("
                            + (st.rec.info.ip.empty()
                                 ? "it was created while bangerd ran without "
                                   "banger-helper"
                                 : "bangerd runs without banger-helper")
                            + "), so NAT cannot apply; see: banger doctor");
      st.rec.info.nat = on;
      persist(self);
      return st.rec.info;
    },
    [=](atom::adopt) {
      if (begin_op(self, [=] { do_adopt(self); }))
        do_adopt(self);
    },
    [=](atom::exited, std::int64_t pid) {
      auto& st = self->state;
      if (pid != st.rec.info.pid || st.busy)
        return; // a stale watcher, or an operation that handles it itself
      if (!is_active(st.state))
        return;
      log::info("vm", "{}: VMM {} exited on its own", vm_name(self), pid);
      become_stopped(self, "the VM powered off or its VMM exited (see "
                             + st.rec.serial_log + ")");
    },
  };
}

} // namespace

vm_actor spawn_vm(caf::actor_system& sys, vm_deps deps, vm_record rec) {
  return sys.spawn(vm_impl, std::move(deps), std::move(rec));
}

} // namespace banger
