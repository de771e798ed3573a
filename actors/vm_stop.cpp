// The vm actor's stop, delete and adopt (daemon start) sequences.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "actors/agent.hpp"
#include "actors/blocking.hpp"
#include "actors/vm_actor_state.hpp"
#include "services/error.hpp"
#include "services/log.hpp"
#include "services/pause_point.hpp"
#include "services/vm_identity.hpp"
#include "services/vm_reconcile.hpp"

namespace banger::vm_detail {

// -- stop ----------------------------------------------------------------------

/// In a worker: `first` (a signal, or nothing), then waits up to timeout_s
/// for the VMM to exit, SIGKILLs it if it did not; then the row is stopped
/// with `why` and `then` runs.
void wait_then_kill(self_ptr self, std::uint32_t timeout_s, std::function<void()> first,
                    std::string why, std::function<void()> then) {
  auto& st = self->state;
  auto driver = st.deps.driver;
  auto pid = st.rec.info.pid;
  auto id = st.rec.info.id;
  auto stopped = [=] {
    become_stopped(self, why);
    then();
  };
  self
    ->request(blocking(self,
                       [=]() -> caf::expected<bool> {
                         if (pid == 0)
                           return true;
                         if (first)
                           first();
                         if (!driver->wait_exit(pid, id, std::chrono::seconds(timeout_s)))
                           return false;
                         // The VMM is gone; its TAP and row are not released yet.
                         pause_point("stop.after_vmm_exit");
                         return true;
                       }),
              caf::infinite, atom::run_v)
    .then(
      [=](bool on_time) {
        if (on_time)
          return stopped();
        log::warn("vm", "{}: the VMM did not exit within {} s; killing it", vm_name(self),
                  timeout_s);
        kill_vmm(self, stopped);
      },
      [=](caf::error& err) {
        log::error("vm", "{}: stop failed: {}", vm_name(self), error_message(err));
        become_stopped(self, error_message(err));
        then();
      });
}

/// sync -> poweroff -> wait -> SIGKILL, each step only if the previous one
/// did not end the VMM; always ends with the VMM gone and the row stopped.
void stop_sequence(self_ptr self, std::uint32_t timeout_s,
                   std::function<void()> then) {
  auto& st = self->state;
  auto wait_then_kill = [=] { vm_detail::wait_then_kill(self, timeout_s, {}, "", then); };
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
      .then(
        [=](bool) {
          pause_point("stop.after_poweroff");
          wait_then_kill();
        },
        [=](caf::error&) { wait_then_kill(); });
  };
  self->request(agent, 5s, atom::sync_v)
    .then(
      [=](bool) {
        pause_point("stop.after_sync");
        poweroff();
      },
      [=](caf::error&) { poweroff(); });
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

void do_kill(self_ptr self, caf::typed_response_promise<vm_info> rp, int signal) {
  auto& st = self->state;
  if (auto ok = vm_state_transition(st.state, vm_op::kill, vm_name(self)); !ok) {
    rp.deliver(ok.error());
    end_op(self);
    return;
  }
  st.state = vm_state::stopping; // until the VMM is gone
  persist(self);
  auto done = [=]() mutable {
    rp.deliver(self->state.rec.info);
    end_op(self);
  };
  auto why = std::string{"killed with SIG"} + sigabbrev_np(signal) + " (banger vm kill)";
  if (signal == SIGKILL) {
    kill_vmm(self, [=]() mutable {
      become_stopped(self, why);
      done();
    });
    return;
  }
  // The VMM takes TERM, INT and HUP as "quit now": the guest gets no say.
  auto driver = st.deps.driver;
  auto pid = st.rec.info.pid;
  auto id = st.rec.info.id;
  auto send = [=] {
    if (driver->alive(pid, id))
      ::kill(static_cast<pid_t>(pid), signal);
  };
  wait_then_kill(self, st.deps.config->stop_timeout_s, send, why, done);
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
                         // Renamed first: a directory is there whole or not at
                         // all, and a row without one is a delete the next
                         // daemon finishes (services/vm_reconcile.hpp).
                         auto doomed = deleting_path(dir);
                         if (std::filesystem::exists(p, ec)
                             && ::rename(dir.c_str(), doomed.c_str()) != 0)
                           return make_error(ec::internal, "cannot rename " + dir + " to "
                                                             + doomed + ": "
                                                             + std::strerror(errno));
                         std::filesystem::remove_all(doomed, ec);
                         pause_point("delete.after_disk_removal");
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
        pause_point("delete.before_row_delete");
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
      pause_point("delete.after_vmm_kill");
      become_stopped(self, "");
      pause_point("delete.after_tap_release");
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
        if (st.state == vm_state::stopping) {
          // A stop the last daemon did not finish: finish it (sync, poweroff,
          // wait, kill) rather than bring the VM back.
          log::info("vm", "{}: finishing the stop of VMM {} that bangerd had begun",
                    vm_name(self), pid);
          stop_sequence(self, st.deps.config->stop_timeout_s, [=] { end_op(self); });
          return;
        }
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

} // namespace banger::vm_detail
