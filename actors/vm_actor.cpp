#include "actors/vm_actor.hpp"

#include <filesystem>
#include <thread>

#include <sys/stat.h>

#include "actors/agent.hpp"
#include "actors/blocking.hpp"
#include "actors/vm_actor_state.hpp"
#include "services/error.hpp"
#include "services/log.hpp"
#include "services/timefmt.hpp"
#include "services/units.hpp"
#include "services/work_disk.hpp"

namespace banger {

namespace vm_detail {

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

namespace {

/// Host bytes a file takes (its allocated blocks); 0 if it is missing.
std::uint64_t allocated_bytes(const std::string& path) {
  struct stat sb {};
  if (path.empty() || ::stat(path.c_str(), &sb) != 0)
    return 0;
  return static_cast<std::uint64_t>(sb.st_blocks) * 512;
}

} // namespace

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

} // namespace vm_detail

namespace {

using namespace vm_detail;

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

/// started_at from the agent's age_ms, on the host's clock.
session_info& stamp(session_info& s) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  s.started_at
    = rfc3339((now - static_cast<std::int64_t>(s.age_ms)) / 1000);
  return s;
}

/// Forwards a session call to the agent of a running VM; `timeout` bounds
/// the agent's answer (infinite for attach, which streams).
template <class Reply, class... Ts>
caf::result<Reply> to_agent(self_ptr self, caf::duration timeout, Ts&&... xs) {
  auto agent = guest_agent(self);
  if (!agent)
    return std::move(agent.error());
  auto rp = self->make_response_promise<Reply>();
  self->request(*agent, timeout, std::forward<Ts>(xs)...)
    .then(
      [=](Reply& r) mutable {
        if constexpr (std::is_same_v<Reply, session_list>)
          for (auto& s : r.sessions)
            stamp(s);
        else
          stamp(r);
        rp.deliver(std::move(r));
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// `vm set` on a stopped VM: NAT, vCPUs and memory are recorded for the
/// next start; a larger disk grows the work disk (in a worker) first.
void do_set(self_ptr self, caf::typed_response_promise<vm_info> rp, vm_set_request req) {
  auto& st = self->state;
  auto refuse = [&](caf::error err) {
    rp.deliver(std::move(err));
    end_op(self);
  };
  const auto& name = vm_name(self);
  if (is_active(st.state))
    return refuse(make_error(ec::bad_state,
                             "VM \"" + name + "\" is " + to_string(st.state)
                               + "; settings change while it is stopped: banger vm stop "
                               + name + ", then retry"));
  if (req.has_nat && req.nat && (st.rec.info.ip.empty() || !st.deps.net.enabled()))
    return refuse(make_error(
      ec::unavailable, "VM \"" + name + "\" has no network ("
                         + (st.rec.info.ip.empty() ? "it was created while bangerd ran "
                                                     "without banger-helper"
                                                   : "bangerd runs without banger-helper")
                         + "), so NAT cannot apply; see: banger doctor"));
  if (req.disk_bytes != 0 && st.rec.info.disk_bytes == 0)
    return refuse(make_error(ec::bad_state,
                             "VM \"" + name + "\" was made before banger had work disks "
                             "(its /root is on the root disk), so --disk-size does "
                             "not apply to it"));
  if (req.disk_bytes != 0 && req.disk_bytes < st.rec.info.disk_bytes)
    return refuse(make_error(ec::invalid_argument,
                             "--disk-size " + format_bytes(req.disk_bytes)
                               + " is smaller than VM \"" + name + "\"'s disk ("
                               + format_bytes(st.rec.info.disk_bytes)
                               + "); disks only grow, shrinking could lose files"));
  auto apply = [self, rp, req]() mutable {
    auto& info = self->state.rec.info;
    if (req.has_nat)
      info.nat = req.nat;
    if (req.vcpu != 0)
      info.vcpu = req.vcpu;
    if (req.memory_mib != 0)
      info.memory_mib = req.memory_mib;
    if (req.disk_bytes != 0)
      info.disk_bytes = req.disk_bytes;
    persist(self);
    rp.deliver(info);
    end_op(self);
  };
  auto disk = st.rec.work_disk;
  if (req.disk_bytes <= st.rec.info.disk_bytes || disk.empty())
    return apply();
  self
    ->request(blocking(self,
                       [disk, size = req.disk_bytes]() -> caf::expected<bool> {
                         // A disk not made yet (never started) is made at
                         // the new size.
                         if (!std::filesystem::exists(disk))
                           return true;
                         if (auto r = grow_work_disk(disk, size); !r)
                           return std::move(r.error());
                         return true;
                       }),
              caf::infinite, atom::run_v)
    .then([apply](bool) mutable { apply(); },
          [self, rp](caf::error& err) mutable {
            rp.deliver(std::move(err));
            end_op(self);
          });
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
      // Two stat calls: cheap enough for the actor's thread.
      info.root_disk_used = allocated_bytes(self->state.rec.root_disk);
      info.work_disk_used = allocated_bytes(self->state.rec.work_disk);
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
    [=](atom::session, atom::start,
        session_start_request& req) -> caf::result<session_info> {
      return to_agent<session_info>(self, caf::duration{30s}, atom::session_v,
                                    atom::start_v, std::move(req));
    },
    [=](atom::session, atom::list) -> caf::result<session_list> {
      return to_agent<session_list>(self, caf::duration{30s}, atom::session_v,
                                    atom::list_v);
    },
    [=](atom::session, atom::stop,
        session_stop_request& req) -> caf::result<session_info> {
      // The agent answers once TERM (then KILL, 5 s later) ended it.
      return to_agent<session_info>(self, caf::duration{30s}, atom::session_v,
                                    atom::stop_v, std::move(req));
    },
    [=](atom::session, atom::attach, session_attach_request& req,
        caf::actor sink, std::uint64_t stream) -> caf::result<session_info> {
      return to_agent<session_info>(self, caf::duration{caf::infinite},
                                    atom::session_v, atom::attach_v,
                                    std::move(req), sink, stream);
    },
    [=](atom::kill, std::int32_t signal) -> caf::result<vm_info> {
      auto rp = self->make_response_promise<vm_info>();
      if (begin_op(self, [=] { do_kill(self, rp, signal); }))
        do_kill(self, rp, signal);
      return rp;
    },
    [=](atom::put, vm_set_request& req) -> caf::result<vm_info> {
      auto rp = self->make_response_promise<vm_info>();
      if (begin_op(self, [=] { do_set(self, rp, req); }))
        do_set(self, rp, req);
      return rp;
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
