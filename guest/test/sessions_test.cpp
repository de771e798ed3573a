// The agent's guest sessions without a VM: the output ring (wrap-around,
// order across stdout/stderr, exact bytes) and the session table (names,
// duplicates, exit status), with real child processes.

#include <csignal>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "guest/agent/sessions.hpp"

using namespace banger;
using banger::agent::output_ring;
using banger::agent::session_error;
using banger::agent::session_table;

namespace {

std::string joined(const std::vector<output_chunk>& chunks, int stream = 0) {
  std::string s;
  for (auto& c : chunks)
    if (stream == 0 || c.stream == stream)
      s += c.data;
  return s;
}

session_start_request shell(std::string name, std::string script) {
  session_start_request r;
  r.session = std::move(name);
  r.exec.argv = {"/bin/sh", "-c", std::move(script)};
  r.exec.cwd = "/";
  return r;
}

/// Waits for the session's process and tells the table, as the agent's
/// SIGCHLD handling does.
void reap(session_table& t, agent::guest_session& s) {
  int status = 0;
  ASSERT_EQ(::waitpid(s.pid, &status, 0), s.pid);
  EXPECT_TRUE(t.reaped(s.pid, status));
}

/// The child leads its own group once it ran setsid(); signals to the group
/// before that would miss.
void wait_leader(pid_t pid) {
  for (int i = 0; i < 500 && ::getpgid(pid) != pid; ++i)
    ::usleep(10'000);
  ASSERT_EQ(::getpgid(pid), pid);
}

void close_pipes(agent::guest_session& s) {
  for (int* fd : {&s.in_fd, &s.out_fd, &s.err_fd})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

} // namespace

TEST(output_ring, keeps_everything_below_capacity_in_read_order) {
  output_ring r(100);
  r.append(1, "out1 ");
  r.append(2, "err1 ");
  r.append(1, "out2");
  auto snap = r.snapshot();
  ASSERT_EQ(snap.size(), 3u);
  EXPECT_EQ(snap[0].stream, 1);
  EXPECT_EQ(snap[1].stream, 2);
  EXPECT_EQ(snap[2].stream, 1);
  EXPECT_EQ(joined(snap), "out1 err1 out2");
  EXPECT_EQ(r.size(), 14u);
  EXPECT_EQ(r.dropped(), 0u);
}

TEST(output_ring, merges_reads_of_one_stream) {
  output_ring r(100);
  r.append(1, "a");
  r.append(1, "b");
  r.append(1, "c");
  ASSERT_EQ(r.snapshot().size(), 1u);
  EXPECT_EQ(r.snapshot()[0].data, "abc");
}

TEST(output_ring, wraps_keeping_the_newest_bytes_exactly) {
  output_ring r(10);
  r.append(1, "0123456");
  r.append(2, "ABCDEF");
  // 13 bytes in, the oldest 3 go: "3456" (stdout) then "ABCDEF" (stderr).
  auto snap = r.snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].stream, 1);
  EXPECT_EQ(snap[0].data, "3456");
  EXPECT_EQ(snap[1].stream, 2);
  EXPECT_EQ(snap[1].data, "ABCDEF");
  EXPECT_EQ(r.size(), 10u);
  EXPECT_EQ(r.dropped(), 3u);
  r.append(1, "xyzxyzxyzxyz"); // larger than the ring: its last 10 bytes
  EXPECT_EQ(joined(r.snapshot()), "zxyzxyzxyz");
  EXPECT_EQ(r.snapshot().size(), 1u);
  EXPECT_EQ(r.dropped(), 3u + 10u + 2u);
}

TEST(output_ring, wraps_over_many_chunks_and_keeps_binary_bytes) {
  output_ring r(1000);
  std::string all;
  for (int i = 0; i < 300; ++i) {
    std::string piece;
    for (int b = 0; b < 7; ++b)
      piece += static_cast<char>((i * 7 + b) % 256); // NULs and high bytes too
    r.append(i % 3 == 0 ? 2 : 1, piece);
    all += piece;
  }
  EXPECT_EQ(r.size(), 1000u);
  EXPECT_EQ(joined(r.snapshot()), all.substr(all.size() - 1000));
}

TEST(output_ring, snapshot_splits_into_frame_sized_chunks) {
  output_ring r(1 << 20);
  r.append(1, std::string(64 * 1024, 'a'));
  r.append(2, std::string(10, 'b'));
  r.append(1, std::string(70 * 1024, 'c'));
  auto snap = r.snapshot(64 * 1024);
  ASSERT_EQ(snap.size(), 4u);
  for (auto& c : snap)
    EXPECT_LE(c.data.size(), 64u * 1024);
  EXPECT_EQ(snap[1].data, std::string(10, 'b'));
  EXPECT_EQ(joined(snap, 1), std::string(64 * 1024, 'a')
                               + std::string(70 * 1024, 'c'));
}

TEST(session_table, names_sessions_and_refuses_a_running_duplicate) {
  session_table t;
  EXPECT_EQ(t.next_name(), "s1");
  auto& a = t.start(shell("", "sleep 30"));
  EXPECT_EQ(a.name, "s1");
  EXPECT_EQ(t.next_name(), "s2");
  auto& b = t.start(shell("web", "sleep 30"));
  EXPECT_EQ(b.name, "web");
  try {
    t.start(shell("web", "true"));
    ADD_FAILURE() << "a second running 'web' was accepted";
  } catch (const session_error& e) {
    EXPECT_STREQ(e.code, "already_exists");
    EXPECT_NE(std::string(e.what()).find("'web' is already running"),
              std::string::npos)
      << e.what();
  }
  try {
    t.start(shell("bad name", "true"));
    ADD_FAILURE() << "a name with a blank was accepted";
  } catch (const session_error& e) {
    EXPECT_STREQ(e.code, "invalid_argument");
  }
  try {
    t.get("nope");
    ADD_FAILURE();
  } catch (const session_error& e) {
    EXPECT_STREQ(e.code, "not_found");
    EXPECT_NE(std::string(e.what()).find("s1, web"), std::string::npos)
      << e.what();
  }
  auto list = t.list();
  ASSERT_EQ(list.sessions.size(), 2u);
  EXPECT_EQ(list.sessions[0].session, "s1"); // start order
  EXPECT_EQ(list.sessions[1].session, "web");
  EXPECT_EQ(list.sessions[1].state, "running");
  EXPECT_EQ(list.sessions[1].argv.at(2), "sleep 30");
  for (auto* s : {&a, &b}) {
    agent::signal_session(s->pid, SIGKILL);
    reap(t, *s);
    close_pipes(*s);
  }
}

TEST(session_table, records_exit_codes_and_signals) {
  session_table t;
  auto& ok = t.start(shell("three", "exit 3"));
  reap(t, ok);
  auto info = t.info(ok);
  EXPECT_EQ(info.state, "exited");
  EXPECT_EQ(info.exit_code, 3);
  EXPECT_EQ(info.signal, 0);

  auto& killed = t.start(shell("term", "sleep 30"));
  // The session leads its own process group: the group signal reaches it.
  wait_leader(killed.pid);
  ASSERT_EQ(::kill(-killed.pid, SIGTERM), 0);
  reap(t, killed);
  info = t.info(killed);
  EXPECT_EQ(info.state, "exited");
  EXPECT_EQ(info.signal, SIGTERM);
  EXPECT_EQ(info.exit_code, 128 + SIGTERM);
  EXPECT_FALSE(t.reaped(killed.pid, 0)); // already recorded
  close_pipes(ok);
  close_pipes(killed);
}

TEST(session_table, stdin_is_a_pipe_and_output_is_the_commands) {
  session_table t;
  auto& s = t.start(shell("cat", "read line; echo \"got $line\"; echo e >&2"));
  ASSERT_GE(s.in_fd, 0);
  ASSERT_EQ(::write(s.in_fd, "hi\n", 3), 3);
  std::string out;
  char buf[256];
  for (;;) {
    pollfd p{s.out_fd, POLLIN, 0};
    ASSERT_GT(::poll(&p, 1, 5000), 0);
    auto n = ::read(s.out_fd, buf, sizeof(buf));
    if (n <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(out, "got hi\n");
  reap(t, s);
  EXPECT_EQ(t.info(s).exit_code, 0);
  close_pipes(s);
}

TEST(session_table, an_ended_name_is_reused_and_old_ended_sessions_go) {
  session_table t;
  auto& first = t.start(shell("job", "exit 1"));
  reap(t, first);
  close_pipes(first);
  t.end(first);
  auto& again = t.start(shell("job", "exit 0"));
  EXPECT_EQ(t.list().sessions.size(), 1u);
  reap(t, again);
  close_pipes(again);
  t.end(again);
  for (std::size_t i = 0; i < session_table::max_ended + 3; ++i) {
    auto& s = t.start(shell("", "exit 0"));
    reap(t, s);
    close_pipes(s);
    t.end(s);
  }
  EXPECT_EQ(t.list().sessions.size(), session_table::max_ended);
}
