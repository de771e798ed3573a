// The agent's flow control without a VM: the real event loop (session::run)
// runs in a child process with one end of a socketpair as its port, and the
// test is the host. It checks that output stops at the credit window until
// the host grants more (so the command's writes block instead of anyone's
// memory growing), and that stdin is credited back as the command takes it.

#include <chrono>
#include <csignal>
#include <optional>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "guest/agent/health.hpp"
#include "guest/agent/session.hpp"
#include "messages/agent.hpp"
#include "messages/wire.hpp"

using namespace banger;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t window = agent::credit_window;

/// A banger-agent event loop in a child process, and the host's end.
class agent_process {
public:
  agent_process() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw std::runtime_error("socketpair failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(sv[0]);
      ::signal(SIGPIPE, SIG_IGN);
      sigset_t chld;
      sigemptyset(&chld);
      sigaddset(&chld, SIGCHLD);
      ::sigprocmask(SIG_BLOCK, &chld, nullptr);
      int sigfd = ::signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
      ::fcntl(sv[1], F_SETFL, O_NONBLOCK);
      agent::session(sv[1], sigfd).run();
    }
    ::close(sv[1]);
    fd_ = sv[0];
  }
  ~agent_process() {
    ::close(fd_);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  void send(std::uint64_t id, const char* type, wire::json body) {
    wire::envelope env;
    env.id = id;
    env.type = type;
    env.body = std::move(body);
    ASSERT_TRUE(wire::write_all(fd_, wire::encode_frame(env)));
  }

  /// The next frame, or nothing if none comes within `quiet`.
  std::optional<wire::envelope> next(std::chrono::milliseconds quiet) {
    for (;;) {
      if (auto payload = reader_.next())
        return wire::parse_envelope(*payload);
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0)
        return std::nullopt;
      char buf[65536];
      auto n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0)
        return std::nullopt;
      reader_.feed(buf, static_cast<std::size_t>(n));
    }
  }

private:
  pid_t pid_ = -1;
  int fd_ = -1;
  wire::frame_reader reader_;
};

exec_spec command(std::vector<std::string> argv, bool with_stdin = false) {
  exec_spec spec;
  spec.argv = std::move(argv);
  spec.cwd = "/";
  spec.stdin_open = with_stdin;
  return spec;
}

} // namespace

TEST(agent_flow, health_announces_the_credit_window) {
  agent_process a;
  a.send(1, "health", wire::json::object());
  auto f = a.next(5s);
  ASSERT_TRUE(f);
  EXPECT_EQ(decode<agent_health>(f->body).credit_window, window);
}

TEST(agent_flow, exec_output_stops_at_the_window_until_the_host_grants_more) {
  agent_process a;
  constexpr std::uint64_t total = 8u << 20;
  a.send(7, "exec",
         to_json(command({"head", "-c", std::to_string(total), "/dev/zero"})));
  // Without credit: exactly the window, then silence (head blocks on its
  // full pipe); the old agent sent all 8 MiB.
  std::uint64_t got = 0;
  while (auto f = a.next(1500ms)) {
    ASSERT_EQ(f->type, "output") << f->body.dump();
    got += decode<output_chunk>(f->body).data.size();
  }
  EXPECT_EQ(got, window);
  // Granting what was taken lets the rest through, then the result.
  a.send(7, "credit", to_json(stream_credit{got}));
  std::optional<exec_result> result;
  while (auto f = a.next(10s)) {
    if (f->type == "result") {
      result = decode<exec_result>(f->body);
      break;
    }
    ASSERT_EQ(f->type, "output") << f->body.dump();
    auto n = decode<output_chunk>(f->body).data.size();
    got += n;
    a.send(7, "credit", to_json(stream_credit{n}));
  }
  ASSERT_TRUE(result) << "no result after " << got << " bytes";
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(got, total);
}

TEST(agent_flow, an_exited_command_keeps_its_last_output_until_credit) {
  agent_process a;
  // The command exits at once with more than the window in its pipe and
  // the agent's hands: the result must wait for the credit, never drop data.
  constexpr std::uint64_t total = window + 4096;
  a.send(3, "exec",
         to_json(command(
             {"sh", "-c", "head -c " + std::to_string(total) + " /dev/zero"})));
  std::uint64_t got = 0;
  while (auto f = a.next(2500ms)) {
    ASSERT_EQ(f->type, "output")
        << "a result before the credit: " << f->body.dump();
    got += decode<output_chunk>(f->body).data.size();
  }
  EXPECT_EQ(got, window);
  a.send(3, "credit", to_json(stream_credit{window}));
  std::optional<exec_result> result;
  while (auto f = a.next(10s)) {
    if (f->type == "result") {
      result = decode<exec_result>(f->body);
      break;
    }
    got += decode<output_chunk>(f->body).data.size();
  }
  ASSERT_TRUE(result);
  EXPECT_EQ(got, total);
}

TEST(agent_flow, stdin_is_credited_back_as_the_command_takes_it) {
  agent_process a;
  a.send(5, "exec", to_json(command({"sh", "-c", "cat >/dev/null"}, true)));
  const std::string piece(64 * 1024, 'x');
  for (std::uint64_t sent = 0; sent < window; sent += piece.size())
    a.send(5, "stdin", to_json(stdin_chunk{piece, false}));
  std::uint64_t credited = 0;
  while (credited < window) {
    auto f = a.next(10s);
    ASSERT_TRUE(f) << "only " << credited << " bytes of stdin credited";
    ASSERT_EQ(f->type, "credit") << f->body.dump();
    credited += decode<stream_credit>(f->body).bytes;
  }
  EXPECT_EQ(credited, window);
  a.send(5, "stdin", to_json(stdin_chunk{"", true}));
  auto f = a.next(10s);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->type, "result") << f->body.dump();
  EXPECT_EQ(decode<exec_result>(f->body).exit_code, 0);
}

TEST(agent_flow, session_attach_holds_the_session_at_the_window) {
  agent_process a;
  session_start_request start;
  start.session = "flood";
  start.exec = command({"sh", "-c", "sleep 1; head -c 4194304 /dev/zero"});
  a.send(1, "session.start", to_json(start));
  auto f = a.next(10s);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->type, "result") << f->body.dump();
  session_attach_request attach;
  attach.session = "flood";
  attach.replay = false;
  a.send(2, "session.attach", to_json(attach));
  std::uint64_t got = 0;
  while (auto g = a.next(2500ms)) {
    ASSERT_EQ(g->type, "output") << g->body.dump();
    got += decode<output_chunk>(g->body).data.size();
  }
  // Held: the command waits on its pipe while the attach has no credit.
  EXPECT_EQ(got, window);
  std::optional<session_info> end;
  a.send(2, "credit", to_json(stream_credit{window}));
  while (auto g = a.next(10s)) {
    if (g->type == "result") {
      end = decode<session_info>(g->body);
      break;
    }
    auto n = decode<output_chunk>(g->body).data.size();
    got += n;
    a.send(2, "credit", to_json(stream_credit{n}));
  }
  ASSERT_TRUE(end);
  EXPECT_EQ(end->state, "exited");
  EXPECT_EQ(got, 4194304u);
}
