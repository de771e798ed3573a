// The daemon's end of a guest agent connection (actors/agent.hpp) against
// the fake agent: health, exec with output routing and signals, and that
// every request is answered when the connection is or becomes unusable.
// Normal scheduler: the agent actor is detached and does socket I/O.

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include <caf/all.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "actors/agent.hpp"
#include "messages/wire.hpp"
#include "services/error.hpp"
#include "test/actors/fake_agent.hpp"
#include "test/actors/world.hpp"

namespace banger::test {
namespace {

/// Long enough for any answer over a local socket; a request still open
/// after it was never answered.
constexpr auto answer_bound = std::chrono::seconds(5);

std::string why(const caf::error& err) {
  return error_message(err);
}

class agent_live : public ::testing::Test {
protected:
  live_world w;

  std::string socket_path() const { return w.root() + "/s/agent.sock"; }

  caf::actor connect(const std::string& path) {
    agents_.push_back(spawn_agent(w.self.ptr(), path, "web"));
    return agents_.back();
  }

  // An agent whose connect failed never quits by itself; the system's
  // shutdown would wait for it.
  void TearDown() override {
    for (auto& a : agents_)
      w.self->send_exit(a, caf::exit_reason::user_shutdown);
  }

  std::vector<caf::actor> agents_;

  template <class T, class... Ts>
  caf::expected<T> ask(const caf::actor& agent, Ts&&... xs) {
    return live_world::await<T>(
        w.self->request(agent, answer_bound, std::forward<Ts>(xs)...));
  }

  static exec_spec command(std::vector<std::string> argv) {
    exec_spec spec;
    spec.argv = std::move(argv);
    return spec;
  }

  static void expect_agent_error(const caf::expected<bool>& x) {
    ASSERT_FALSE(x);
    EXPECT_FALSE(x.error() == caf::sec::request_timeout)
        << "the request was never answered";
    EXPECT_EQ(error_code(x.error()), ec::agent) << why(x.error());
  }
};

TEST_F(agent_live, ready_answers_with_the_agents_health) {
  fake_agent guest(socket_path());
  auto agent = connect(socket_path());
  auto health = ask<agent_health>(agent, atom::ready_v, std::uint32_t{5000});
  ASSERT_TRUE(health) << why(health.error());
  EXPECT_EQ(health->hostname, "fake");
  EXPECT_EQ(guest.connections(), 1u);
  EXPECT_GE(guest.count("health"), 1u);
}

TEST_F(agent_live, ready_waits_until_the_guest_is_provisioned) {
  fake_agent guest(socket_path());
  guest.set_unprovisioned(3);
  auto agent = connect(socket_path());
  auto health = ask<agent_health>(agent, atom::ready_v, std::uint32_t{5000});
  ASSERT_TRUE(health) << why(health.error());
  EXPECT_TRUE(health->provisioned);
  EXPECT_GE(guest.count("health"), 4u); // three "not yet", then ready
}

TEST_F(agent_live, ports_returns_the_guests_listening_sockets) {
  fake_agent guest(socket_path());
  auto agent = connect(socket_path());
  auto r = ask<agent_ports_reply>(agent, atom::ports_v);
  ASSERT_TRUE(r) << why(r.error());
  auto want = fake_agent::scripted_ports();
  ASSERT_EQ(r->ports.size(), want.ports.size());
  EXPECT_EQ(r->ports[0].proto, "tcp");
  EXPECT_EQ(r->ports[0].address, "0.0.0.0");
  EXPECT_EQ(r->ports[0].port, 22u);
  EXPECT_EQ(r->ports[0].pid, 123);
  EXPECT_EQ(r->ports[0].process, "dropbear");
  EXPECT_EQ(r->ports[1].proto, "udp6");
  EXPECT_EQ(r->ports[1].pid, 0);
  EXPECT_EQ(guest.request_types(), (std::vector<std::string>{"ports"}));
}

TEST_F(agent_live, unreachable_agent_answers_ports_with_an_error) {
  auto agent = connect(socket_path());
  auto r = ask<agent_ports_reply>(agent, atom::ports_v);
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error() == caf::sec::request_timeout)
      << "the request was never answered";
  EXPECT_EQ(error_code(r.error()), ec::agent) << why(r.error());
}

TEST_F(agent_live, exec_routes_output_to_the_sink_and_returns_the_exit_code) {
  fake_agent guest(socket_path());
  auto agent = connect(socket_path());
  auto r = ask<exec_result>(agent, atom::exec_v, command({"echo", "hi"}),
                            w.sink, std::uint64_t{9});
  ASSERT_TRUE(r) << why(r.error());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return w.out->stdout_text() == "hi\n"; }));
  std::lock_guard<std::mutex> guard(w.out->mtx);
  EXPECT_EQ(w.out->started, 1u);
  EXPECT_EQ(w.out->agent, agent);
}

TEST_F(agent_live, signal_reaches_a_running_exec) {
  fake_agent guest(socket_path());
  auto agent = connect(socket_path());
  auto pending =
      w.self->request(agent, answer_bound, atom::exec_v,
                      command({"sleep", "100"}), w.sink, std::uint64_t{9});
  ASSERT_TRUE(guest.wait_for("exec", 10s));
  // The sink learns the call id before the request is written, but handles
  // that message on its own time.
  std::uint64_t call = 0;
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> guard(w.out->mtx);
    call = w.out->call;
    return w.out->started == 1;
  }));
  caf::anon_send(agent, atom::signal_v, call, std::int32_t{15});
  auto r = live_world::await<exec_result>(pending);
  ASSERT_TRUE(r) << why(r.error());
  EXPECT_EQ(r->signal, 15);
  EXPECT_EQ(r->exit_code, 128 + 15);
  EXPECT_EQ(guest.request_types(),
            (std::vector<std::string>{"exec", "signal"}));
}

// Flow control (docs/protocol.md §6.2): the daemon's end relays the sink's
// output credit to the agent and sends stdin only within the agent's credit.

TEST_F(agent_live, output_beyond_the_window_waits_for_the_sinks_credit) {
  fake_agent guest(socket_path());
  guest.set_credit_window(64 * 1024);
  auto agent = connect(socket_path());
  // The window is learned from health, as at every boot and adoption.
  ASSERT_TRUE(ask<agent_health>(agent, atom::ready_v, std::uint32_t{5000}));
  auto pending = w.self->request(agent, answer_bound, atom::exec_v,
                                 command({"flood", "262144"}), w.sink,
                                 std::uint64_t{9});
  ASSERT_TRUE(wait_until([&] { return w.out->stdout_text().size() == 65536; }));
  std::uint64_t call = 0;
  {
    std::lock_guard<std::mutex> guard(w.out->mtx);
    call = w.out->call;
  }
  // Nothing more until the sink says its client took it.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(guest.flood_sent(), 65536u);
  for (int i = 0; i < 3; ++i)
    caf::anon_send(agent, atom::credit_v, call, std::uint64_t{65536});
  auto r = live_world::await<exec_result>(pending);
  ASSERT_TRUE(r) << why(r.error());
  // The sink is another actor than the requester: its last output event may
  // still be in its mailbox when the result arrives.
  EXPECT_TRUE(wait_until([&] { return w.out->stdout_text().size() == 262144; }))
      << w.out->stdout_text().size();
  EXPECT_EQ(guest.credit_received(), 3u * 65536);
}

TEST_F(agent_live, stdin_beyond_the_agents_credit_waits_in_the_daemon) {
  fake_agent guest(socket_path());
  guest.set_credit_window(64 * 1024);
  auto agent = connect(socket_path());
  ASSERT_TRUE(ask<agent_health>(agent, atom::ready_v, std::uint32_t{5000}));
  auto pending =
      w.self->request(agent, answer_bound, atom::exec_v,
                      command({"sleep", "100"}), w.sink, std::uint64_t{9});
  ASSERT_TRUE(guest.wait_for("exec", 10s));
  std::uint64_t call = 0;
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> guard(w.out->mtx);
    call = w.out->call;
    return w.out->started == 1;
  }));
  const std::string piece(40 * 1024, 'i');
  for (int i = 0; i < 5; ++i) // 200 KiB against a 64 KiB window
    caf::anon_send(agent, atom::input_v, call, stdin_chunk{piece, false});
  caf::anon_send(agent, atom::input_v, call, stdin_chunk{"", true});
  ASSERT_TRUE(wait_until([&] { return guest.stdin_bytes() == 65536; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(guest.stdin_bytes(), 65536u) << "stdin went past the credit";
  // The sink learns what left, so that it reads more from its client.
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> guard(w.out->mtx);
    return w.out->stdin_taken == 65536;
  }));
  guest.grant_stdin(call, 200 * 1024);
  ASSERT_TRUE(wait_until([&] { return guest.stdin_bytes() == 200u * 1024; }));
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> guard(w.out->mtx);
    return w.out->stdin_taken == 200u * 1024;
  }));
  // The eof came last, after every byte.
  auto reqs = guest.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs.back().type, "stdin");
  EXPECT_TRUE(decode<stdin_chunk>(reqs.back().body).eof);
  guest.release_sleepers();
  auto r = live_world::await<exec_result>(pending);
  ASSERT_TRUE(r) << why(r.error());
}

TEST_F(agent_live, an_agent_without_flow_control_gets_no_credit_frames) {
  fake_agent guest(socket_path()); // window 0: an agent older than credit
  auto agent = connect(socket_path());
  ASSERT_TRUE(ask<agent_health>(agent, atom::ready_v, std::uint32_t{5000}));
  auto pending =
      w.self->request(agent, answer_bound, atom::exec_v,
                      command({"sleep", "100"}), w.sink, std::uint64_t{9});
  ASSERT_TRUE(guest.wait_for("exec", 10s));
  std::uint64_t call = 0;
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> guard(w.out->mtx);
    call = w.out->call;
    return w.out->started == 1;
  }));
  // Its stdin is not held back, and it never sees a "credit" (it would
  // refuse the unknown type and kill the command).
  const std::string piece(100 * 1024, 'i');
  caf::anon_send(agent, atom::input_v, call, stdin_chunk{piece, false});
  caf::anon_send(agent, atom::input_v, call, stdin_chunk{piece, false});
  caf::anon_send(agent, atom::credit_v, call, std::uint64_t{65536});
  caf::anon_send(agent, atom::signal_v, call, std::int32_t{15});
  auto r = live_world::await<exec_result>(pending);
  ASSERT_TRUE(r) << why(r.error());
  EXPECT_EQ(r->signal, 15);
  EXPECT_EQ(guest.stdin_bytes(), 200u * 1024);
  EXPECT_EQ(guest.count("credit"), 0u);
}

TEST_F(agent_live, session_attach_streams_and_detach_ends_only_the_attach) {
  fake_agent guest(socket_path());
  auto agent = connect(socket_path());
  auto pending = w.self->request(agent, answer_bound, atom::session_v,
                                 atom::attach_v,
                                 session_attach_request{"web", true, true},
                                 w.sink, std::uint64_t{9});
  ASSERT_TRUE(guest.wait_for("session.attach", 10s));
  EXPECT_TRUE(wait_until([&] { return w.out->stdout_text() == "replayed\n"; }));
  std::uint64_t call = 0;
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> guard(w.out->mtx);
    call = w.out->call;
    return w.out->started == 1;
  }));
  // stdin reaches the session on the attach's id; detach is not a kill.
  caf::anon_send(agent, atom::input_v, call, stdin_chunk{"typed\n", false});
  caf::anon_send(agent, atom::detach_v, call);
  auto r = live_world::await<session_info>(pending);
  ASSERT_TRUE(r) << why(r.error());
  EXPECT_EQ(r->state, "running");
  EXPECT_EQ(guest.request_types(),
            (std::vector<std::string>{"session.attach", "stdin", "detach"}));
  for (auto& req : guest.requests()) {
    if (req.type != "health") {
      EXPECT_EQ(req.id, call) << req.type;
    }
  }
}

TEST_F(agent_live, session_refusals_keep_their_codes) {
  fake_agent guest(socket_path());
  auto agent = connect(socket_path());
  auto missing = ask<session_info>(agent, atom::session_v, atom::attach_v,
                                   session_attach_request{"nope", true, true},
                                   w.sink, std::uint64_t{9});
  ASSERT_FALSE(missing);
  EXPECT_EQ(error_code(missing.error()), ec::not_found) << why(missing.error());
  EXPECT_EQ(why(missing.error()), "VM \"web\": no session named 'nope'");
  auto taken = ask<session_info>(agent, atom::session_v, atom::start_v,
                                 session_start_request{"web", command({"x"})});
  ASSERT_FALSE(taken);
  EXPECT_EQ(error_code(taken.error()), ec::already_exists);
  auto list = ask<session_list>(agent, atom::session_v, atom::list_v);
  ASSERT_TRUE(list) << why(list.error());
  ASSERT_EQ(list->sessions.size(), 1u);
  EXPECT_EQ(list->sessions[0].pid, 42);
}

TEST_F(agent_live, exec_is_answered_when_the_guest_goes_away) {
  fake_agent guest(socket_path());
  auto agent = connect(socket_path());
  auto pending =
      w.self->request(agent, answer_bound, atom::exec_v,
                      command({"sleep", "100"}), w.sink, std::uint64_t{9});
  ASSERT_TRUE(guest.wait_for("exec", 10s));
  guest.disconnect();
  auto r = live_world::await<exec_result>(pending);
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error() == caf::sec::request_timeout)
      << "the exec was never answered";
  EXPECT_EQ(error_code(r.error()), ec::agent) << why(r.error());
}

// The owner stops the agent actor (vm actor's release_runtime) while a
// request is open: it must still be answered (CAF 0.17 drops undelivered
// response promises silently; the exit handler fails them).
TEST_F(agent_live, open_requests_are_answered_when_the_agent_is_stopped) {
  fake_agent guest(socket_path());
  auto agent = connect(socket_path());
  auto pending =
      w.self->request(agent, answer_bound, atom::exec_v,
                      command({"sleep", "100"}), w.sink, std::uint64_t{9});
  ASSERT_TRUE(guest.wait_for("exec", 10s));
  w.self->send_exit(agent, caf::exit_reason::user_shutdown);
  auto r = live_world::await<exec_result>(pending);
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error() == caf::sec::request_timeout)
      << "the exec was never answered";
}

// A guest that never reads its port (no agent yet, a wedged one): QEMU then
// stops reading the host's socket too. The boot wait must not flood it:
// ten probes a second filled the socket's buffer in ~28 s and the write
// then blocked the agent actor for good, so the boot timeout never fired.
TEST_F(agent_live, ready_sends_few_probes_to_a_guest_that_never_reads) {
  auto path = socket_path();
  std::filesystem::create_directories(w.root() + "/s");
  int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 1), 0);
  auto agent = connect(path);
  auto r = ask<agent_health>(agent, atom::ready_v, std::uint32_t{3000});
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error() == caf::sec::request_timeout) << "never answered";
  EXPECT_NE(why(r.error()).find("did not answer in time"), std::string::npos)
      << why(r.error());
  // Now read what the agent actor wrote in those 3 s.
  int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  ASSERT_GE(cfd, 0);
  wire::frame_reader reader;
  std::size_t probes = 0;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(cfd, buf, sizeof buf)) > 0) {
    reader.feed(buf, static_cast<std::size_t>(n));
    while (reader.next())
      ++probes;
  }
  ::close(cfd);
  ::close(lfd);
  EXPECT_GE(probes, 1u);
  EXPECT_LE(probes, 3u) << "one probe, then one per 2 s without an answer";
}

// Nobody listens: every request fails at once with ec::agent. A handler
// that makes a response promise before returning an error loses the error
// (the promise took the request over): sync, poweroff and health did.
TEST_F(agent_live, unreachable_agent_answers_ready_with_an_error) {
  auto agent = connect(socket_path());
  auto r = ask<agent_health>(agent, atom::ready_v, std::uint32_t{5000});
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error() == caf::sec::request_timeout);
  EXPECT_EQ(error_code(r.error()), ec::agent) << why(r.error());
  EXPECT_NE(why(r.error()).find("cannot connect"), std::string::npos);
}

TEST_F(agent_live, unreachable_agent_answers_exec_with_an_error) {
  auto agent = connect(socket_path());
  auto r = ask<exec_result>(agent, atom::exec_v, command({"echo"}), w.sink,
                            std::uint64_t{9});
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error() == caf::sec::request_timeout);
  EXPECT_EQ(error_code(r.error()), ec::agent) << why(r.error());
}

TEST_F(agent_live, unreachable_agent_answers_sync_with_an_error) {
  auto agent = connect(socket_path());
  expect_agent_error(ask<bool>(agent, atom::sync_v));
}

TEST_F(agent_live, unreachable_agent_answers_poweroff_with_an_error) {
  auto agent = connect(socket_path());
  expect_agent_error(ask<bool>(agent, atom::poweroff_v));
}

TEST_F(agent_live, unreachable_agent_answers_health_with_an_error) {
  auto agent = connect(socket_path());
  auto r = ask<agent_health>(agent, atom::health_v);
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error() == caf::sec::request_timeout)
      << "the request was never answered";
  EXPECT_EQ(error_code(r.error()), ec::agent) << why(r.error());
}

} // namespace
} // namespace banger::test
