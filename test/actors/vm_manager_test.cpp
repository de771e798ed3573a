// The manager: create orchestration and its undo, validation, adoption of
// the VMs an earlier daemon left running. Normal scheduler, real store on a
// temp file, fake driver and agents (see world.hpp).

#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"
#include "services/error.hpp"
#include "test/actors/world.hpp"

namespace banger::test {
namespace {

std::string why(const caf::error& err) {
  return error_message(err);
}

class vm_manager_live : public ::testing::Test {
protected:
  live_world w;

  /// Nothing of a VM remains: no row, no directory, not listed.
  void expect_nothing_left(const std::string& name) {
    EXPECT_TRUE(w.rows().empty());
    EXPECT_TRUE(w.vm_dirs().empty());
    EXPECT_TRUE(w.list().empty());
    auto x = w.get(name);
    ASSERT_FALSE(x);
    EXPECT_EQ(error_code(x.error()), ec::not_found);
  }

  void expect_refused(vm_spec spec, ec code) {
    auto name = spec.name;
    auto x = w.create(std::move(spec));
    ASSERT_FALSE(x) << "created " << x->name;
    EXPECT_EQ(error_code(x.error()), code) << why(x.error());
    EXPECT_FALSE(why(x.error()).empty());
    EXPECT_EQ(w.driver->count("launch"), 0u);
    EXPECT_TRUE(w.rows().empty());
    EXPECT_TRUE(w.vm_dirs().empty());
    EXPECT_TRUE(w.list().empty());
  }
};

vm_spec named(std::string name) {
  vm_spec spec;
  spec.name = std::move(name);
  return spec;
}

TEST_F(vm_manager_live, failed_launch_leaves_nothing_and_frees_the_name) {
  w.start();
  w.driver->fail_launch(
      make_error(ec::vmm, "qemu-system-x86_64: cannot open /dev/kvm"));
  auto x = w.create("web");
  ASSERT_FALSE(x);
  EXPECT_EQ(error_code(x.error()), ec::vmm);
  EXPECT_NE(why(x.error()).find("cannot open /dev/kvm"), std::string::npos)
      << why(x.error());
  expect_nothing_left("web");
  w.driver->fail_launch(caf::error{});
  auto again = w.create("web");
  ASSERT_TRUE(again) << why(again.error());
  EXPECT_EQ(again->state, "running");
  EXPECT_EQ(w.list().size(), 1u);
}

TEST_F(vm_manager_live, silent_agent_fails_create_kills_vmm_leaves_nothing) {
  w.config.boot_timeout_s = 1;
  w.driver->set_agent_silent(true);
  w.start();
  auto x = w.create("web");
  ASSERT_FALSE(x);
  EXPECT_EQ(error_code(x.error()), ec::vmm) << why(x.error());
  EXPECT_NE(why(x.error()).find("did not answer"), std::string::npos)
      << why(x.error());
  ASSERT_EQ(w.driver->launches().size(), 1u);
  auto calls = w.driver->calls();
  auto killed = std::find_if(calls.begin(), calls.end(),
                             [](auto& c) { return c.method == "kill"; });
  ASSERT_NE(killed, calls.end()) << "the VMM was not killed";
  EXPECT_FALSE(w.driver->running(killed->pid));
  auto agent = w.driver->agent(killed->pid);
  ASSERT_NE(agent, nullptr);
  EXPECT_GE(agent->count("health"), 1u); // it was asked, it kept quiet
  expect_nothing_left("web");
}

TEST_F(vm_manager_live,
       vmm_crash_during_boot_fails_create_without_the_timeout) {
  // A boot timeout far beyond the test's reply bound: only noticing the
  // crash answers the create in time.
  w.config.boot_timeout_s = 600;
  w.driver->set_agent_silent(true);
  w.start();
  auto create =
      w.self->request(w.manager, live_world::reply_timeout, atom::create_v,
                      named("web"), w.sink, std::uint64_t{1});
  // Crash once the daemon is waiting for the (silent) agent.
  std::int64_t pid = 0;
  ASSERT_TRUE(wait_until([&] {
    pid = w.driver->last_pid();
    auto agent = pid != 0 ? w.driver->agent(pid) : nullptr;
    return agent && agent->count("health") > 0;
  }));
  w.driver->exit_vmm(pid);
  auto x = live_world::await<vm_info>(create);
  ASSERT_FALSE(x);
  EXPECT_FALSE(x.error() == caf::sec::request_timeout)
      << "the create waited for the boot timeout";
  EXPECT_EQ(error_code(x.error()), ec::vmm) << why(x.error());
  expect_nothing_left("web");
}

TEST_F(vm_manager_live, refuses_a_bad_name) {
  w.start();
  expect_refused(named("Bad_Name"), ec::invalid_argument);
  expect_refused(named("-web"), ec::invalid_argument);
}

TEST_F(vm_manager_live, refuses_too_many_vcpus) {
  w.start();
  auto spec = named("web");
  spec.vcpu = w.config.max_vcpu + 1;
  expect_refused(spec, ec::invalid_argument);
}

TEST_F(vm_manager_live, refuses_too_little_memory) {
  w.start();
  auto spec = named("web");
  spec.memory_mib = w.config.min_memory_mib - 1;
  expect_refused(spec, ec::invalid_argument);
}

TEST_F(vm_manager_live, refuses_an_unknown_image) {
  w.start();
  auto spec = named("web");
  spec.image = "nope";
  expect_refused(spec, ec::not_found);
}

TEST_F(vm_manager_live, refuses_an_unknown_kernel) {
  w.start();
  auto spec = named("web");
  spec.kernel = "nope";
  expect_refused(spec, ec::not_found);
}

TEST_F(vm_manager_live, refuses_a_taken_name) {
  w.start();
  ASSERT_TRUE(w.create("web"));
  auto x = w.create("web");
  ASSERT_FALSE(x);
  EXPECT_EQ(error_code(x.error()), ec::already_exists) << why(x.error());
  EXPECT_EQ(w.driver->count("launch"), 1u);
  EXPECT_EQ(w.rows().size(), 1u);
  EXPECT_EQ(w.list().size(), 1u);
}

TEST_F(vm_manager_live, two_creates_of_one_name_back_to_back_make_one_vm) {
  w.start();
  auto first =
      w.self->request(w.manager, live_world::reply_timeout, atom::create_v,
                      named("web"), w.sink, std::uint64_t{1});
  auto second =
      w.self->request(w.manager, live_world::reply_timeout, atom::create_v,
                      named("web"), w.sink, std::uint64_t{2});
  auto a = live_world::await<vm_info>(first);
  auto b = live_world::await<vm_info>(second);
  ASSERT_TRUE(a) << why(a.error());
  EXPECT_EQ(a->state, "running");
  ASSERT_FALSE(b);
  EXPECT_EQ(error_code(b.error()), ec::already_exists) << why(b.error());
  EXPECT_EQ(w.driver->count("launch"), 1u);
  EXPECT_EQ(w.rows().size(), 1u);
  EXPECT_EQ(w.vm_dirs().size(), 1u);
}

TEST_F(vm_manager_live, requests_for_unknown_or_stopped_vms_are_refused) {
  w.start();
  auto unknown = w.exec("nope", {"echo"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(error_code(unknown.error()), ec::not_found);
  auto nostop = w.stop("nope");
  ASSERT_FALSE(nostop);
  EXPECT_EQ(error_code(nostop.error()), ec::not_found);
  auto nodel = w.del("nope", true);
  ASSERT_FALSE(nodel);
  EXPECT_EQ(error_code(nodel.error()), ec::not_found);
  ASSERT_TRUE(w.create("web"));
  ASSERT_TRUE(w.stop("web"));
  auto exec = w.exec("web", {"echo", "hi"});
  ASSERT_FALSE(exec);
  EXPECT_EQ(error_code(exec.error()), ec::bad_state) << why(exec.error());
}

TEST_F(vm_manager_live, defaults_fill_an_empty_spec) {
  w.start();
  auto x = w.create(vm_spec{});
  ASSERT_TRUE(x) << why(x.error());
  EXPECT_FALSE(x->name.empty());
  EXPECT_EQ(x->image, w.config.default_image);
  EXPECT_EQ(x->kernel, "k1");
  EXPECT_EQ(x->vcpu, w.config.default_vcpu);
  EXPECT_EQ(x->memory_mib, w.config.default_memory_mib);
  auto status = w.call<daemon_status>(w.manager, atom::status_v);
  ASSERT_TRUE(status) << why(status.error());
  EXPECT_EQ(status->vms_total, 1u);
  EXPECT_EQ(status->vms_running, 1u);
}

TEST_F(vm_manager_live, stop_during_boot_waits_for_the_boot_then_stops) {
  w.driver->set_launch_delay(300ms);
  w.start();
  auto create =
      w.self->request(w.manager, live_world::reply_timeout, atom::create_v,
                      named("web"), w.sink, std::uint64_t{1});
  // The stop can only be routed once the manager has the VM's actor.
  ASSERT_TRUE(wait_until([&] { return w.driver->count("launch") == 1; }));
  auto stopped = w.stop("web");
  auto created = live_world::await<vm_info>(create);
  ASSERT_TRUE(created) << why(created.error());
  EXPECT_EQ(created->state, "running");
  ASSERT_TRUE(stopped) << why(stopped.error());
  EXPECT_EQ(stopped->state, "stopped");
  EXPECT_FALSE(w.driver->running(created->pid));
}

TEST_F(vm_manager_live, delete_needs_force_while_running_then_frees_the_name) {
  w.start();
  auto info = w.create("web");
  ASSERT_TRUE(info) << why(info.error());
  auto refused = w.del("web", false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(error_code(refused.error()), ec::bad_state);
  EXPECT_TRUE(w.driver->running(info->pid));
  auto deleted = w.del("web", true);
  ASSERT_TRUE(deleted) << why(deleted.error());
  EXPECT_FALSE(w.driver->running(info->pid));
  expect_nothing_left("web");
  ASSERT_TRUE(w.create("web"));
}

TEST_F(vm_manager_live, adopts_a_running_vmm_whose_agent_answers) {
  vm_record rec;
  vm_runtime rt;
  w.start([&](store& db) {
    rec = make_record(w.config, "web", "running");
    rt = w.driver->add_vmm(rec.info.id, "web", true);
    rec.info.pid = rt.pid;
    rec.agent_socket = rt.agent_socket;
    ASSERT_TRUE(db.insert_vm(rec));
  });
  auto agent = w.driver->agent(rt.pid);
  ASSERT_NE(agent, nullptr);
  // A start waits for the adoption: it must find the VM running.
  auto start = w.start_vm("web");
  ASSERT_FALSE(start);
  EXPECT_EQ(error_code(start.error()), ec::bad_state) << why(start.error());
  EXPECT_NE(why(start.error()).find("already running"), std::string::npos)
      << why(start.error());
  EXPECT_EQ(w.driver->count("launch"), 0u);
  EXPECT_EQ(w.driver->count("alive", rt.pid), 1u);
  EXPECT_GE(agent->count("health"), 1u);
  auto info = w.get("web");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, "running");
  EXPECT_EQ(info->pid, rt.pid);
  // The adopted connection carries commands and the stop.
  auto echoed = w.exec("web", {"echo", "adopted"});
  ASSERT_TRUE(echoed) << why(echoed.error());
  EXPECT_EQ(echoed->exit_code, 0);
  auto stopped = w.stop("web");
  ASSERT_TRUE(stopped) << why(stopped.error());
  EXPECT_EQ(agent->request_types(),
            (std::vector<std::string>{"exec", "sync", "poweroff"}));
  EXPECT_EQ(w.driver->count("kill"), 0u);
}

TEST_F(vm_manager_live, adopt_kills_a_live_vmm_whose_agent_is_unreachable) {
  vm_record rec;
  vm_runtime rt;
  w.start([&](store& db) {
    rec = make_record(w.config, "web", "running");
    rt = w.driver->add_vmm(rec.info.id, "web", true);
    w.driver->agent(rt.pid)->stop(); // nobody listens on the socket
    rec.info.pid = rt.pid;
    rec.agent_socket = rt.agent_socket;
    ASSERT_TRUE(db.insert_vm(rec));
  });
  // Generous: a broken agent that does not answer sync and poweroff makes
  // the stop wait out their request timeouts (5 s + 3 s) before it kills.
  vm_info seen;
  EXPECT_TRUE(wait_until(
      [&] {
        auto x = w.get("web");
        if (x)
          seen = *x;
        return x && x->state == "stopped";
      },
      30s))
      << "state stayed " << seen.state;
  EXPECT_EQ(w.driver->count("kill", rt.pid), 1u);
  EXPECT_FALSE(w.driver->running(rt.pid));
}

TEST_F(vm_manager_live, marks_a_dead_vmm_stopped_and_starts_it_again) {
  vm_record rec;
  vm_runtime rt;
  w.start([&](store& db) {
    rec = make_record(w.config, "web", "running");
    rt = w.driver->add_vmm(rec.info.id, "web", false);
    rec.info.pid = rt.pid;
    rec.agent_socket = rt.agent_socket;
    std::filesystem::create_directories(rec.info.dir);
    ASSERT_TRUE(db.insert_vm(rec));
  });
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
  EXPECT_EQ(w.driver->count("kill"), 0u);
  auto again = w.start_vm("web");
  ASSERT_TRUE(again) << why(again.error());
  EXPECT_EQ(again->state, "running");
  EXPECT_EQ(w.driver->count("launch"), 1u);
}

} // namespace
} // namespace banger::test
