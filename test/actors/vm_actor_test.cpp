// The vm actor: lifecycle, ordering of requests in its mailbox, and what it
// does when the VMM or the guest misbehaves.
//
// vm_actor_det.*  run on CAF's test coordinator (deterministic): a vm actor
//                 spawned from a stored row, without a guest agent
//                 connection (agents are detached and do real I/O).
// vm_actor_live.* run on the normal scheduler through the manager, with a
//                 fake driver whose fake agents answer over Unix sockets.

#include <fstream>
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "services/timefmt.hpp"

#include <caf/all.hpp>

#include "actors/interfaces.hpp"
#include "services/error.hpp"
#include "test/actors/world.hpp"

namespace banger::test {
namespace {

std::string why(const caf::error& err) {
  return error_message(err);
}

exec_spec command(std::vector<std::string> argv) {
  exec_spec spec;
  spec.argv = std::move(argv);
  return spec;
}

// -- deterministic
// ------------------------------------------------------------------

class vm_actor_det : public ::testing::Test {
protected:
  det_world w;

  /// A row that says "running", with a fake VMM that really "runs".
  vm_record running(const std::string& name) {
    auto rec = make_record(w.config, name, "running");
    auto rt = w.driver->add_vmm(rec.info.id, name, true);
    rec.info.pid = rt.pid;
    rec.agent_socket = rt.agent_socket;
    return rec;
  }
};

TEST_F(vm_actor_det, exec_queued_behind_stop_is_refused_as_bad_state) {
  auto rec = running("web");
  auto vm = w.spawn(rec);
  auto stopped = w.ask<vm_info>(vm, atom::stop_v, std::uint32_t{0});
  auto exec = w.ask<exec_result>(vm, atom::exec_v, command({"echo", "hi"}),
                                 caf::actor{}, std::uint64_t{1});
  w.sched.run();
  ASSERT_TRUE(stopped->done);
  ASSERT_TRUE(stopped->value) << why(stopped->value.error());
  EXPECT_EQ(stopped->value->state, "stopped");
  EXPECT_EQ(stopped->value->pid, 0);
  ASSERT_TRUE(exec->done);
  ASSERT_FALSE(exec->value);
  EXPECT_EQ(error_code(exec->value.error()), ec::bad_state)
      << why(exec->value.error());
  // Without an agent connection the only way to stop is to kill.
  EXPECT_EQ(w.driver->count("kill", rec.info.pid), 1u);
  EXPECT_FALSE(w.driver->running(rec.info.pid));
  EXPECT_EQ(w.row(rec.info.id).info.state, "stopped");
  ASSERT_FALSE(w.mlog->updates.empty());
  EXPECT_EQ(w.mlog->updates.back().state, "stopped");
}

TEST_F(vm_actor_det, second_stop_back_to_back_is_already_stopped) {
  auto rec = running("web");
  auto vm = w.spawn(rec);
  auto first = w.ask<vm_info>(vm, atom::stop_v, std::uint32_t{0});
  auto second = w.ask<vm_info>(vm, atom::stop_v, std::uint32_t{0});
  w.sched.run();
  ASSERT_TRUE(first->done);
  ASSERT_TRUE(first->value) << why(first->value.error());
  EXPECT_EQ(first->value->state, "stopped");
  ASSERT_TRUE(second->done);
  ASSERT_FALSE(second->value);
  EXPECT_EQ(error_code(second->value.error()), ec::bad_state);
  EXPECT_NE(why(second->value.error()).find("already stopped"),
            std::string::npos)
      << why(second->value.error());
  EXPECT_EQ(w.driver->count("kill"), 1u);
}

TEST_F(vm_actor_det, failed_launch_fails_start_with_its_error) {
  auto rec = make_record(w.config, "web", "created");
  auto vm = w.spawn(rec);
  w.driver->fail_launch(
      make_error(ec::vmm, "qemu-system-x86_64: cannot open /dev/kvm"));
  auto started =
      w.ask<vm_info>(vm, atom::start_v, caf::actor{}, std::uint64_t{1});
  w.sched.run();
  ASSERT_TRUE(started->done);
  ASSERT_FALSE(started->value);
  EXPECT_EQ(error_code(started->value.error()), ec::vmm);
  EXPECT_NE(why(started->value.error()).find("cannot open /dev/kvm"),
            std::string::npos);
  // The overlay is made before the launch, over the image's rootfs, and
  // the work disk from the image's seed; the launch gets both.
  auto calls = w.driver->calls();
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls[0].method, "create_root_disk");
  EXPECT_EQ(calls[0].arg, rec.root_disk);
  EXPECT_EQ(calls[1].method, "create_work_disk");
  EXPECT_EQ(calls[1].arg, rec.work_disk);
  EXPECT_EQ(calls[2].method, "launch");
  ASSERT_EQ(w.driver->launches().size(), 1u);
  EXPECT_EQ(w.driver->launches()[0].work_disk, rec.work_disk);
  std::ifstream disk(rec.work_disk);
  std::string made;
  std::getline(disk, made);
  EXPECT_NE(made.find("1073741824 bytes from '"), std::string::npos) << made;
  EXPECT_NE(made.find("/images/default-seed.ext4'"), std::string::npos) << made;
  EXPECT_EQ(w.driver->count("launch"), 1u);
  EXPECT_EQ(w.driver->count("kill"), 0u); // nothing ran
  auto row = w.row(rec.info.id);
  EXPECT_EQ(row.info.state, "error");
  EXPECT_NE(row.info.last_error.find("cannot open /dev/kvm"),
            std::string::npos);
  EXPECT_EQ(row.info.pid, 0);
}

TEST_F(vm_actor_det, failed_root_disk_fails_start_without_launching) {
  auto rec = make_record(w.config, "web", "stopped");
  auto vm = w.spawn(rec);
  w.driver->fail_root_disk(make_error(ec::unavailable, "qemu-img not found"));
  auto started =
      w.ask<vm_info>(vm, atom::start_v, caf::actor{}, std::uint64_t{1});
  w.sched.run();
  ASSERT_TRUE(started->done);
  ASSERT_FALSE(started->value);
  EXPECT_EQ(error_code(started->value.error()), ec::unavailable);
  EXPECT_EQ(w.driver->count("launch"), 0u);
  EXPECT_EQ(w.row(rec.info.id).info.state, "error");
}

TEST_F(vm_actor_det, stop_queued_behind_a_failing_start_runs_after_it) {
  auto rec = make_record(w.config, "web", "created");
  auto vm = w.spawn(rec);
  w.driver->fail_launch(make_error(ec::vmm, "boom"));
  auto started =
      w.ask<vm_info>(vm, atom::start_v, caf::actor{}, std::uint64_t{1});
  auto stopped = w.ask<vm_info>(vm, atom::stop_v, std::uint32_t{0});
  w.sched.run();
  ASSERT_TRUE(started->done);
  EXPECT_FALSE(started->value);
  // The stop waited for the start, then found the VM failed, not starting.
  ASSERT_TRUE(stopped->done);
  ASSERT_FALSE(stopped->value);
  EXPECT_EQ(error_code(stopped->value.error()), ec::bad_state);
  EXPECT_NE(why(stopped->value.error()).find("failed to start"),
            std::string::npos)
      << why(stopped->value.error());
}

TEST_F(vm_actor_det, vmm_exit_while_running_marks_stopped_with_reason) {
  auto rec = running("web");
  auto vm = w.spawn(rec);
  // A stale watcher's pid changes nothing.
  caf::anon_send(vm, atom::exited_v, std::int64_t{rec.info.pid + 1000});
  auto before = w.ask<vm_info>(vm, atom::get_v);
  w.sched.run();
  ASSERT_TRUE(before->done && before->value);
  EXPECT_EQ(before->value->state, "running");
  caf::anon_send(vm, atom::exited_v, std::int64_t{rec.info.pid});
  auto after = w.ask<vm_info>(vm, atom::get_v);
  w.sched.run();
  ASSERT_TRUE(after->done && after->value);
  EXPECT_EQ(after->value->state, "stopped");
  EXPECT_EQ(after->value->pid, 0);
  EXPECT_NE(after->value->last_error.find("exited"), std::string::npos)
      << after->value->last_error;
  auto row = w.row(rec.info.id);
  EXPECT_EQ(row.info.state, "stopped");
  EXPECT_FALSE(row.info.last_error.empty());
}

TEST_F(vm_actor_det, adopt_of_a_dead_vmm_marks_stopped) {
  auto rec = make_record(w.config, "web", "running");
  auto rt = w.driver->add_vmm(rec.info.id, "web", false);
  rec.info.pid = rt.pid;
  auto vm = w.spawn(rec);
  caf::anon_send(vm, atom::adopt_v);
  w.sched.run(); // get is not queued behind lifecycle operations
  auto info = w.ask<vm_info>(vm, atom::get_v);
  w.sched.run();
  ASSERT_TRUE(info->done && info->value);
  EXPECT_EQ(info->value->state, "stopped");
  EXPECT_NE(info->value->last_error.find("not running"), std::string::npos)
      << info->value->last_error;
  EXPECT_EQ(w.driver->count("alive", rt.pid), 1u);
  EXPECT_EQ(w.row(rec.info.id).info.state, "stopped");
}

TEST_F(vm_actor_det, adopt_of_an_active_row_without_pid_marks_stopped) {
  auto rec = make_record(w.config, "web", "starting");
  auto vm = w.spawn(rec);
  caf::anon_send(vm, atom::adopt_v);
  w.sched.run(); // get is not queued behind lifecycle operations
  auto info = w.ask<vm_info>(vm, atom::get_v);
  w.sched.run();
  ASSERT_TRUE(info->done && info->value);
  EXPECT_EQ(info->value->state, "stopped");
  EXPECT_EQ(w.driver->count("alive"), 0u);
}

TEST_F(vm_actor_det, adopt_of_a_stopped_row_changes_nothing) {
  auto rec = make_record(w.config, "web", "stopped");
  auto vm = w.spawn(rec);
  caf::anon_send(vm, atom::adopt_v);
  w.sched.run(); // get is not queued behind lifecycle operations
  auto info = w.ask<vm_info>(vm, atom::get_v);
  w.sched.run();
  ASSERT_TRUE(info->done && info->value);
  EXPECT_EQ(info->value->state, "stopped");
  EXPECT_EQ(w.driver->calls().size(), 0u);
}

TEST_F(vm_actor_det, delete_of_a_running_vm_needs_force) {
  auto rec = running("web");
  auto vm = w.spawn(rec);
  auto refused = w.ask<bool>(vm, atom::del_v, false);
  w.sched.run();
  ASSERT_TRUE(refused->done);
  ASSERT_FALSE(refused->value);
  EXPECT_EQ(error_code(refused->value.error()), ec::bad_state);
  EXPECT_TRUE(w.driver->running(rec.info.pid));
  EXPECT_EQ(entries(w.config.paths.vms_dir()).size(), 1u);

  auto forced = w.ask<bool>(vm, atom::del_v, true);
  w.sched.run();
  ASSERT_TRUE(forced->done);
  ASSERT_TRUE(forced->value) << why(forced->value.error());
  EXPECT_FALSE(w.driver->running(rec.info.pid));
  EXPECT_EQ(w.driver->count("kill", rec.info.pid), 1u);
  EXPECT_TRUE(entries(w.config.paths.vms_dir()).empty());
  auto rows = w.db->list_vms();
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->empty());
  ASSERT_EQ(w.mlog->removed.size(), 1u);
  EXPECT_EQ(w.mlog->removed[0], "web");
}

// -- live
// -----------------------------------------------------------------------------

class vm_actor_live : public ::testing::Test {
protected:
  live_world w;
};

TEST_F(vm_actor_live, create_runs_stop_powers_off_start_runs_again) {
  // A launch that takes time gives a boot time that cannot be zero.
  w.driver->set_launch_delay(20ms);
  w.start();
  auto info = w.create("web");
  ASSERT_TRUE(info) << why(info.error());
  EXPECT_EQ(info->state, "running");
  EXPECT_GE(info->boot_ms, 20u);
  EXPECT_FALSE(info->started_at.empty());
  EXPECT_TRUE(info->last_error.empty());
  ASSERT_NE(info->pid, 0);
  auto pid = info->pid;
  EXPECT_TRUE(w.driver->running(pid));
  EXPECT_EQ(w.driver->count("launch"), 1u);
  EXPECT_EQ(w.driver->count("create_root_disk"), 1u);
  auto spec = w.driver->launches().at(0);
  EXPECT_EQ(spec.name, "web");
  EXPECT_EQ(spec.dir, info->dir);
  EXPECT_EQ(spec.vmlinux, w.root() + "/images/vmlinux");
  auto rows = w.rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].info.state, "running");
  EXPECT_EQ(rows[0].info.pid, pid);
  EXPECT_GE(rows[0].info.boot_ms, 20u);
  {
    std::lock_guard<std::mutex> guard(w.out->mtx);
    EXPECT_NE(std::find(w.out->stages.begin(), w.out->stages.end(), "boot"),
              w.out->stages.end());
    EXPECT_NE(std::find(w.out->stages.begin(), w.out->stages.end(), "agent"),
              w.out->stages.end());
  }
  auto agent = w.driver->agent(pid);
  ASSERT_NE(agent, nullptr);
  EXPECT_GE(agent->count("health"), 1u);

  auto stopped = w.stop("web");
  ASSERT_TRUE(stopped) << why(stopped.error());
  EXPECT_EQ(stopped->state, "stopped");
  EXPECT_EQ(stopped->pid, 0);
  EXPECT_TRUE(stopped->last_error.empty()) << stopped->last_error;
  EXPECT_EQ(agent->request_types(),
            (std::vector<std::string>{"sync", "poweroff"}));
  EXPECT_FALSE(w.driver->running(pid));
  EXPECT_EQ(w.driver->count("kill"), 0u); // the guest powered off by itself
  rows = w.rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].info.state, "stopped");
  EXPECT_EQ(rows[0].info.pid, 0);

  auto again = w.start_vm("web");
  ASSERT_TRUE(again) << why(again.error());
  EXPECT_EQ(again->state, "running");
  EXPECT_NE(again->pid, pid);
  EXPECT_EQ(w.driver->count("launch"), 2u);
  EXPECT_EQ(w.driver->count("create_root_disk"), 1u); // the disks are kept
  EXPECT_EQ(w.driver->count("create_work_disk"), 1u);
  auto echoed = w.exec("web", {"echo", "again"});
  ASSERT_TRUE(echoed) << why(echoed.error());
  EXPECT_EQ(echoed->exit_code, 0);
}

TEST_F(vm_actor_live, stop_kills_a_guest_that_does_not_power_off) {
  w.driver->set_poweroff_exits(false);
  w.start();
  auto info = w.create("web");
  ASSERT_TRUE(info) << why(info.error());
  auto stopped = w.stop("web", 1);
  ASSERT_TRUE(stopped) << why(stopped.error());
  EXPECT_EQ(stopped->state, "stopped");
  EXPECT_EQ(w.driver->count("kill", info->pid), 1u);
  EXPECT_FALSE(w.driver->running(info->pid));
  EXPECT_EQ(w.driver->agent(info->pid)->request_types(),
            (std::vector<std::string>{"sync", "poweroff"}));
}

TEST_F(vm_actor_live, exec_reports_exit_code_and_output) {
  w.start();
  ASSERT_TRUE(w.create("web"));
  auto echoed = w.exec("web", {"echo", "hello", "world"});
  ASSERT_TRUE(echoed) << why(echoed.error());
  EXPECT_EQ(echoed->exit_code, 0);
  EXPECT_TRUE(wait_until([&] {
    return w.out->stdout_text() == "hello world\n";
  })) << w.out->stdout_text();
  auto failed = w.exec("web", {"exit", "3"});
  ASSERT_TRUE(failed) << why(failed.error());
  EXPECT_EQ(failed->exit_code, 3);
}

TEST_F(vm_actor_live, session_list_goes_to_the_agent_and_gets_a_host_time) {
  w.start();
  ASSERT_TRUE(w.create("web"));
  auto before = now_rfc3339();
  auto list = live_world::await<session_list>(
      w.self->request(w.manager, live_world::reply_timeout, atom::session_v,
                      atom::list_v, std::string{"web"}));
  ASSERT_TRUE(list) << why(list.error());
  ASSERT_EQ(list->sessions.size(), 1u);
  // The fake agent says it started 90 s ago: the host clock minus that.
  auto& started = list->sessions[0].started_at;
  ASSERT_EQ(started.size(), before.size()) << started;
  EXPECT_LT(started, before);
  auto none = live_world::await<session_list>(
      w.self->request(w.manager, live_world::reply_timeout, atom::session_v,
                      atom::list_v, std::string{"nope"}));
  ASSERT_FALSE(none);
  EXPECT_EQ(error_code(none.error()), ec::not_found);
  ASSERT_TRUE(w.stop("web"));
  auto stopped = live_world::await<session_info>(w.self->request(
      w.manager, live_world::reply_timeout, atom::session_v, atom::start_v,
      std::string{"web"}, session_start_request{"", {}}));
  ASSERT_FALSE(stopped);
  EXPECT_EQ(error_code(stopped.error()), ec::bad_state) << why(stopped.error());
}

TEST_F(vm_actor_live, exec_queued_behind_stop_is_refused_as_bad_state) {
  w.start();
  auto info = w.create("web");
  ASSERT_TRUE(info) << why(info.error());
  auto stop =
      w.self->request(w.manager, live_world::reply_timeout, atom::stop_v,
                      std::string{"web"}, std::uint32_t{0});
  auto exec = w.self->request(
      w.manager, live_world::reply_timeout, atom::exec_v, std::string{"web"},
      command({"echo", "late"}), w.sink, std::uint64_t{7});
  auto stopped = live_world::await<vm_info>(stop);
  auto refused = live_world::await<exec_result>(exec);
  ASSERT_TRUE(stopped) << why(stopped.error());
  EXPECT_EQ(stopped->state, "stopped");
  ASSERT_FALSE(refused);
  EXPECT_EQ(error_code(refused.error()), ec::bad_state) << why(refused.error());
  EXPECT_EQ(w.driver->agent(info->pid)->count("exec"), 0u);
}

TEST_F(vm_actor_live, exec_ahead_of_stop_completes_then_stop_completes) {
  w.start();
  auto info = w.create("web");
  ASSERT_TRUE(info) << why(info.error());
  auto exec = w.self->request(
      w.manager, live_world::reply_timeout, atom::exec_v, std::string{"web"},
      command({"echo", "first"}), w.sink, std::uint64_t{7});
  auto stop =
      w.self->request(w.manager, live_world::reply_timeout, atom::stop_v,
                      std::string{"web"}, std::uint32_t{0});
  auto done = live_world::await<exec_result>(exec);
  auto stopped = live_world::await<vm_info>(stop);
  ASSERT_TRUE(done) << why(done.error());
  EXPECT_EQ(done->exit_code, 0);
  ASSERT_TRUE(stopped) << why(stopped.error());
  EXPECT_EQ(stopped->state, "stopped");
  EXPECT_EQ(w.driver->agent(info->pid)->request_types(),
            (std::vector<std::string>{"exec", "sync", "poweroff"}));
  EXPECT_TRUE(wait_until([&] { return w.out->stdout_text() == "first\n"; }));
}

TEST_F(vm_actor_live, two_stops_back_to_back_second_is_already_stopped) {
  w.start();
  auto info = w.create("web");
  ASSERT_TRUE(info) << why(info.error());
  auto first =
      w.self->request(w.manager, live_world::reply_timeout, atom::stop_v,
                      std::string{"web"}, std::uint32_t{0});
  auto second =
      w.self->request(w.manager, live_world::reply_timeout, atom::stop_v,
                      std::string{"web"}, std::uint32_t{0});
  auto a = live_world::await<vm_info>(first);
  auto b = live_world::await<vm_info>(second);
  ASSERT_TRUE(a) << why(a.error());
  EXPECT_EQ(a->state, "stopped");
  ASSERT_FALSE(b);
  EXPECT_EQ(error_code(b.error()), ec::bad_state);
  EXPECT_NE(why(b.error()).find("already stopped"), std::string::npos)
      << why(b.error());
  EXPECT_EQ(w.driver->agent(info->pid)->count("poweroff"), 1u);
}

// Stops "web" while an exec runs in it: both must be answered (the guest is
// gone, so is the command).
void expect_stop_cuts_exec(live_world& w) {
  w.start();
  auto info = w.create("web");
  ASSERT_TRUE(info) << why(info.error());
  auto agent = w.driver->agent(info->pid);
  auto exec =
      w.self->request(w.manager, 10s, atom::exec_v, std::string{"web"},
                      command({"sleep", "1000"}), w.sink, std::uint64_t{7});
  ASSERT_TRUE(agent->wait_for("exec", 10s));
  auto stopped = w.stop("web");
  ASSERT_TRUE(stopped) << why(stopped.error());
  EXPECT_EQ(stopped->state, "stopped");
  auto cut = live_world::await<exec_result>(exec);
  ASSERT_FALSE(cut);
  EXPECT_NE(error_code(cut.error()), ec::none);
  EXPECT_FALSE(cut.error() == caf::sec::request_timeout)
      << "the exec was never answered";
}

TEST_F(vm_actor_live, stop_cuts_a_running_exec_and_both_are_answered) {
  expect_stop_cuts_exec(w);
}

// The same with the agent socket's EOF arriving after the daemon noticed the
// VMM exit (a race the test above lost now and then on one core while
// release_runtime's send_exit dropped the agent's pending exec promise and
// the client waited forever).
TEST_F(vm_actor_live, stop_answers_a_running_exec_when_the_agent_eof_is_late) {
  w.driver->set_agent_eof_delay(1s);
  expect_stop_cuts_exec(w);
}

TEST_F(vm_actor_live, vmm_exiting_on_its_own_marks_stopped) {
  w.start();
  auto info = w.create("web");
  ASSERT_TRUE(info) << why(info.error());
  w.driver->exit_vmm(info->pid);
  vm_info seen;
  EXPECT_TRUE(wait_until([&] {
    auto x = w.get("web");
    if (x)
      seen = *x;
    return x && x->state == "stopped";
  })) << "state stayed "
      << seen.state;
  EXPECT_FALSE(seen.last_error.empty());
  EXPECT_EQ(seen.pid, 0);
  EXPECT_TRUE(wait_until([&] {
    auto rows = w.rows();
    return rows.size() == 1 && rows[0].info.state == "stopped"
           && !rows[0].info.last_error.empty();
  }));
  // A VM that stopped by itself starts again.
  auto again = w.start_vm("web");
  ASSERT_TRUE(again) << why(again.error());
  EXPECT_EQ(again->state, "running");
  EXPECT_TRUE(again->last_error.empty());
}

} // namespace
} // namespace banger::test
