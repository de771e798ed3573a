// Host-side tests of the guest code that needs no VM: framing with resync,
// the kernel command line, the command environment and exec's exit codes.
// The boot itself is checked by scripts/boot-smoke.sh.

#include <algorithm>
#include <cstdlib>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "guest/agent/exec.hpp"
#include "guest/agent/inbox.hpp"
#include "guest/init/cmdline.hpp"
#include "messages/wire.hpp"

using namespace banger;

namespace {

std::string frame(const std::string& payload) {
  std::string out;
  auto n = static_cast<std::uint32_t>(payload.size());
  out += static_cast<char>(n >> 24);
  out += static_cast<char>(n >> 16);
  out += static_cast<char>(n >> 8);
  out += static_cast<char>(n);
  return out + payload;
}

/// Runs spec to completion; returns {exit status, stdout, stderr}.
struct ran {
  int status;
  std::string out, err;
};

std::string drain(int fd) {
  std::string s;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 5000);
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      return s;
    s.append(buf, static_cast<std::size_t>(n));
  }
}

ran run(const exec_spec& spec) {
  auto c = agent::spawn(spec);
  if (c.stdin_fd >= 0)
    ::close(c.stdin_fd);
  ran r{};
  r.out = drain(c.stdout_fd);
  r.err = drain(c.stderr_fd);
  ::waitpid(c.pid, &r.status, 0);
  ::close(c.stdout_fd);
  ::close(c.stderr_fd);
  return r;
}

} // namespace

TEST(inbox, splits_frames_fed_byte_by_byte) {
  agent::inbox in;
  auto bytes = frame("one") + frame("") + frame("three");
  std::vector<std::string> got;
  for (char c : bytes) {
    in.feed(&c, 1);
    while (auto item = in.next()) {
      ASSERT_FALSE(item->error);
      got.push_back(item->payload);
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"one", "", "three"}));
}

TEST(inbox, skips_an_oversized_frame_and_resyncs) {
  agent::inbox in(16);
  auto big = frame(std::string(40, 'x'));
  auto bytes = big + frame("after");
  in.feed(bytes.data(), 10);
  auto first = in.next();
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->error);
  EXPECT_NE(first->error->find("40 bytes"), std::string::npos);
  EXPECT_FALSE(in.next());
  in.feed(bytes.data() + 10, bytes.size() - 10);
  auto second = in.next();
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->error);
  EXPECT_EQ(second->payload, "after");
}

TEST(cmdline, reads_the_contract) {
  auto p = init::parse_cmdline(
    "console=ttyS0 quiet root=/dev/vda rootfstype=ext4 rw "
    "banger.hostname=box banger.id=abc123 banger.init=/sbin/myinit "
    "rootflags=noatime banger.rootwait=2 banger.work=serial:banger-work \"x=a b\"\n");
  EXPECT_EQ(p.root, "/dev/vda");
  EXPECT_EQ(p.work, "serial:banger-work");
  EXPECT_EQ(p.rootfstype, "ext4");
  EXPECT_EQ(p.rootflags, "noatime");
  EXPECT_FALSE(p.read_only);
  EXPECT_EQ(p.hostname, "box");
  EXPECT_EQ(p.init, "/sbin/myinit");
  EXPECT_EQ(p.rootwait_s, 2);
  EXPECT_TRUE(p.start_agent);
  EXPECT_EQ(p.other.at("banger.id"), "abc123");
  EXPECT_EQ(p.other.at("x"), "a b");
}

TEST(cmdline, defaults_like_the_kernel) {
  auto p = init::parse_cmdline("root=/dev/vda banger.agent=0");
  EXPECT_TRUE(p.read_only);
  EXPECT_EQ(p.rootfstype, "ext4");
  EXPECT_FALSE(p.start_agent);
  EXPECT_EQ(p.rootwait_s, 5);
  EXPECT_EQ(p.work, "");
}

TEST(environment, spec_entries_override_defaults) {
  auto env = agent::make_environment({"PATH=/x", "FOO=bar"});
  EXPECT_EQ(std::count(env.begin(), env.end(), "PATH=/x"), 1);
  EXPECT_EQ(std::count(env.begin(), env.end(), "FOO=bar"), 1);
  EXPECT_EQ(std::count(env.begin(), env.end(), "HOME=/root"), 1);
  for (auto& e : env)
    EXPECT_NE(e.rfind("PATH=/usr", 0), 0u) << "default PATH kept: " << e;
}

TEST(exec, passes_argv_as_is_and_keeps_streams_apart) {
  exec_spec spec;
  spec.argv = {"sh", "-c", "echo \"$1\"; echo err >&2; exit 42", "sh", "a  b"};
  spec.cwd = "/";
  auto r = run(spec);
  ASSERT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(WEXITSTATUS(r.status), 42);
  EXPECT_EQ(r.out, "a  b\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST(exec, searches_the_commands_own_path) {
  exec_spec spec;
  spec.argv = {"true"};
  spec.env = {"PATH=/nonexistent"};
  spec.cwd = "/";
  auto r = run(spec);
  EXPECT_EQ(WEXITSTATUS(r.status), 127);
  EXPECT_EQ(r.err, "banger-agent: true: command not found\n");
}

TEST(exec, not_executable_is_126) {
  char path[] = "/tmp/banger-guest-test.XXXXXX";
  int fd = ::mkstemp(path); // mode 0600: not executable
  ASSERT_GE(fd, 0);
  ::close(fd);
  exec_spec spec;
  spec.argv = {path};
  spec.cwd = "/";
  auto r = run(spec);
  ::unlink(path);
  EXPECT_EQ(WEXITSTATUS(r.status), 126);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
}

TEST(exec, stdin_is_dev_null_unless_asked) {
  exec_spec spec;
  spec.argv = {"cat"};
  spec.cwd = "/";
  auto r = run(spec);
  EXPECT_EQ(WEXITSTATUS(r.status), 0);
  EXPECT_EQ(r.out, "");
}
