#include "services/process.hpp"
#include "test/unit/temp_dir.hpp"
#include "services/error.hpp"

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "services/unique_fd.hpp"

using namespace std::chrono_literals;
using banger::run;
using banger::run_options;

namespace {

using steady = std::chrono::steady_clock;

using banger::test::temp_dir;

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// Kills a pid the test started, whatever happens in the test.
struct pid_reaper {
  std::int64_t pid = 0;
  ~pid_reaper() {
    if (pid > 0 && banger::pid_alive(pid))
      ::kill(static_cast<pid_t>(pid), SIGKILL);
  }
};

} // namespace

TEST(Process, ReportsExitCode) {
  auto r = run({"sh", "-c", "exit 3"});
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->signal, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->ok());
  auto ok = run({"true"});
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->ok());
}

TEST(Process, ReportsSignal) {
  auto r = run({"sh", "-c", "kill -TERM $$"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->signal, SIGTERM);
  EXPECT_EQ(r->exit_code, -1);
}

TEST(Process, CapturesBothStreamsAndFeedsStdin) {
  run_options opts;
  opts.stdin_data = "hello\n";
  auto r = run({"sh", "-c", "cat; echo oops >&2"}, opts);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "hello\n");
  EXPECT_EQ(r->err, "oops\n");
  EXPECT_TRUE(r->ok());
}

TEST(Process, BigOutputOnBothStreamsDoesNotDeadlock) {
  // Far more than a pipe holds, on both streams at once.
  run_options opts;
  opts.timeout = 30s;
  auto r = run({"sh", "-c",
                "head -c 3000000 /dev/zero | tr '\\0' e >&2 & "
                "head -c 3000000 /dev/zero | tr '\\0' o; wait"},
               opts);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->out.size(), 3000000u);
  EXPECT_EQ(r->err.size(), 3000000u);
  EXPECT_EQ(r->out.find_first_not_of('o'), std::string::npos);
  EXPECT_EQ(r->err.find_first_not_of('e'), std::string::npos);
}

TEST(Process, BigStdinWhileReadingBigStdout) {
  run_options opts;
  opts.timeout = 30s;
  opts.stdin_data = std::string(2'000'000, 'x');
  auto r = run({"cat"}, opts);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, opts.stdin_data);
}

TEST(Process, ChildThatIgnoresStdinDoesNotKillUs) {
  // Writing to a closed pipe raises SIGPIPE; run() must swallow it.
  run_options opts;
  opts.stdin_data = std::string(1'000'000, 'x');
  auto r = run({"true"}, opts);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok());
}

TEST(Process, TimeoutKillsTheWholeGroup) {
  run_options opts;
  opts.timeout = 300ms;
  auto start = steady::now();
  auto r = run({"sh", "-c", "sleep 60 & echo $!; sleep 60"}, opts);
  auto took = steady::now() - start;
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_LT(took, 5s);
  auto background = std::stoll(r->out);
  ASSERT_GT(background, 0);
  // The background sleep was in the group: it is gone too.
  EXPECT_TRUE(banger::wait_pid_exit(background, 2s));
}

TEST(Process, ReturnsWhenBackgroundChildHoldsThePipe) {
  // sh exits at once; its background sleep keeps stdout open.
  auto start = steady::now();
  auto r = run({"sh", "-c", "sleep 30 & echo $!"});
  auto took = steady::now() - start;
  ASSERT_TRUE(r);
  pid_reaper sleeper{std::stoll(r->out)};
  EXPECT_TRUE(r->ok());
  EXPECT_LT(took, 5s);
}

TEST(Process, MissingBinaryIsUnavailable) {
  auto r = run({"banger-no-such-program-xyz", "--help"});
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::unavailable);
  EXPECT_NE(banger::error_message(r.error()).find("banger-no-such-program-xyz not found"),
            std::string::npos);
  auto abs = run({"/nonexistent/qemu-img"});
  ASSERT_FALSE(abs);
  EXPECT_EQ(banger::error_code(abs.error()), banger::ec::unavailable);
}

TEST(Process, MissingProgramMessageNamesThePackage) {
  EXPECT_EQ(banger::missing_program_message("qemu-img"),
            "qemu-img not found; install qemu-utils");
  EXPECT_EQ(banger::missing_program_message("qemu-system-x86_64"),
            "qemu-system-x86_64 not found; install qemu-system-x86");
}

TEST(Process, NonExecutableIsUnavailable) {
  temp_dir dir;
  auto script = dir.path() + "/not-exec";
  std::ofstream{script} << "#!/bin/sh\n";
  auto r = run({script});
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::unavailable);
}

TEST(Process, EmptyArgvIsInvalid) {
  auto r = run({});
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::invalid_argument);
}

TEST(Process, CwdAndEnvironment) {
  temp_dir dir;
  run_options opts;
  opts.cwd = dir.path();
  opts.env_extra = {"BANGER_TEST_VAR=bar", "HOME"};
  auto r = run({"sh", "-c", "pwd; echo $BANGER_TEST_VAR; echo home=${HOME-unset}"}, opts);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, std::filesystem::canonical(dir.path()).string() + "\nbar\nhome=unset\n");
}

TEST(Process, BadCwdIsAnError) {
  run_options opts;
  opts.cwd = "/nonexistent/banger";
  auto r = run({"true"}, opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::invalid_argument);
  EXPECT_NE(banger::error_message(r.error()).find("/nonexistent/banger"), std::string::npos);
}

TEST(Process, ChildGetsItsOwnProcessGroupAndNoLeakedFds) {
  int leaked = ::open("/dev/null", O_RDONLY); // deliberately not CLOEXEC
  ASSERT_GE(leaked, 3);
  auto fd = std::to_string(leaked);
  auto r = run({"sh", "-c",
                "echo $$ $(cut -d' ' -f5 /proc/$$/stat); "
                "test -e /proc/$$/fd/" + fd + " && echo leaked || echo closed"});
  ::close(leaked);
  ASSERT_TRUE(r);
  std::istringstream in{r->out};
  long pid = 0, pgid = 0;
  std::string fd_state;
  in >> pid >> pgid >> fd_state;
  EXPECT_EQ(pid, pgid);
  EXPECT_NE(pgid, static_cast<long>(::getpgrp()));
  EXPECT_EQ(fd_state, "closed");
}

TEST(Process, SpawnDetachedIsNotOurChild) {
  auto pid = banger::spawn_detached({"sleep", "60"});
  ASSERT_TRUE(pid) << banger::error_message(pid.error());
  pid_reaper reaper{*pid};
  ASSERT_GT(*pid, 0);
  EXPECT_TRUE(banger::pid_alive(*pid));
  errno = 0;
  EXPECT_EQ(::waitpid(static_cast<pid_t>(*pid), nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(banger::proc_cmdline(*pid), "sleep 60");
  // Its own session and group, not ours.
  EXPECT_NE(::getsid(static_cast<pid_t>(*pid)), ::getsid(0));
  EXPECT_EQ(::getpgid(static_cast<pid_t>(*pid)), static_cast<pid_t>(*pid));
  EXPECT_FALSE(banger::wait_pid_exit(*pid, 100ms));
  ASSERT_EQ(::kill(static_cast<pid_t>(*pid), SIGKILL), 0);
  EXPECT_TRUE(banger::wait_pid_exit(*pid, 5s));
  EXPECT_FALSE(banger::pid_alive(*pid));
  EXPECT_EQ(banger::proc_cmdline(*pid), "");
}

TEST(Process, SpawnDetachedAppendsOutputToFiles) {
  temp_dir dir;
  auto out = dir.path() + "/out.log";
  auto err = dir.path() + "/err.log";
  std::ofstream{out} << "before\n";
  banger::spawn_options opts;
  opts.stdout_path = out;
  opts.stderr_path = err;
  opts.cwd = dir.path();
  auto pid = banger::spawn_detached({"sh", "-c", "echo hi; pwd; echo oops >&2"}, opts);
  ASSERT_TRUE(pid);
  EXPECT_TRUE(banger::wait_pid_exit(*pid, 5s));
  EXPECT_EQ(slurp(out), "before\nhi\n" + std::filesystem::canonical(dir.path()).string() + "\n");
  EXPECT_EQ(slurp(err), "oops\n");
}

TEST(Process, SpawnDetachedSharesOneFileForBothStreams) {
  temp_dir dir;
  auto log = dir.path() + "/both.log";
  banger::spawn_options opts;
  opts.stdout_path = log;
  opts.stderr_path = log;
  auto pid = banger::spawn_detached({"sh", "-c", "echo one; echo two >&2; echo three"}, opts);
  ASSERT_TRUE(pid);
  EXPECT_TRUE(banger::wait_pid_exit(*pid, 5s));
  EXPECT_EQ(slurp(log), "one\ntwo\nthree\n");
}

TEST(Process, SpawnDetachedClosesOurFds) {
  temp_dir dir;
  auto log = dir.path() + "/fds.log";
  int leaked = ::open("/dev/null", O_RDONLY); // deliberately not CLOEXEC
  ASSERT_GE(leaked, 3);
  banger::spawn_options opts;
  opts.stdout_path = log;
  auto pid = banger::spawn_detached(
    {"sh", "-c", "test -e /proc/$$/fd/" + std::to_string(leaked) + " && echo leaked || echo closed"},
    opts);
  ::close(leaked);
  ASSERT_TRUE(pid);
  EXPECT_TRUE(banger::wait_pid_exit(*pid, 5s));
  EXPECT_EQ(slurp(log), "closed\n");
}

TEST(Process, SpawnDetachedPassesChosenDescriptors) {
  int p1[2], p2[2];
  ASSERT_EQ(::pipe2(p1, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(p2, O_CLOEXEC), 0);
  // Crossed on purpose: p2's write end becomes 3 and p1's becomes 4, so a
  // naive dup2 order would clobber one with the other.
  banger::spawn_options opts;
  opts.pass_fds = {{p2[1], 3}, {p1[1], 4}};
  auto pid = banger::spawn_detached({"sh", "-c", "echo three >&3; echo four >&4"}, opts);
  ::close(p1[1]);
  ::close(p2[1]);
  ASSERT_TRUE(pid) << banger::error_message(pid.error());
  auto drain = [](int fd) {
    std::string out;
    char buf[64];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0)
      out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
  };
  EXPECT_EQ(drain(p2[0]), "three\n");
  EXPECT_EQ(drain(p1[0]), "four\n");
}

TEST(Process, SpawnDetachedRefusesAClosedDescriptor) {
  banger::spawn_options opts;
  opts.pass_fds = {{987, 3}};
  auto pid = banger::spawn_detached({"true"}, opts);
  ASSERT_FALSE(pid);
  EXPECT_NE(banger::error_message(pid.error()).find("987"), std::string::npos);
}

TEST(Process, SpawnDetachedMissingBinaryIsAnError) {
  auto pid = banger::spawn_detached({"banger-no-such-program-xyz"});
  ASSERT_FALSE(pid);
  EXPECT_EQ(banger::error_code(pid.error()), banger::ec::unavailable);
  // Exec failures after the PATH lookup are reported through the pipe too.
  temp_dir dir;
  auto script = dir.path() + "/bad-interp";
  {
    std::ofstream f{script};
    f << "#!/nonexistent/interpreter\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  auto bad = banger::spawn_detached({script});
  ASSERT_FALSE(bad);
  EXPECT_EQ(banger::error_code(bad.error()), banger::ec::unavailable);
}

TEST(Process, SpawnDetachedBadLogPathIsAnError) {
  banger::spawn_options opts;
  opts.stdout_path = "/nonexistent/dir/out.log";
  auto pid = banger::spawn_detached({"true"}, opts);
  ASSERT_FALSE(pid);
  EXPECT_NE(banger::error_message(pid.error()).find("/nonexistent/dir/out.log"),
            std::string::npos);
}

TEST(Process, PidAliveRejectsNonsense) {
  EXPECT_FALSE(banger::pid_alive(0));
  EXPECT_FALSE(banger::pid_alive(-1));
  EXPECT_FALSE(banger::pid_alive(std::int64_t{1} << 40));
  EXPECT_TRUE(banger::pid_alive(::getpid()));
  EXPECT_TRUE(banger::wait_pid_exit(0, 10ms));
}

TEST(Process, ResourceLimitsReachTheChild) {
  run_options opts;
  opts.limit_cpu_s = 7;
  opts.limit_as_bytes = 512ull << 20;
  opts.limit_fsize_bytes = 1 << 20;
  // /proc/self/limits says bytes and seconds (ulimit's units vary by shell).
  auto r = run({"sh", "-c", "grep -E '^Max (cpu time|address space|file size)' /proc/self/limits"},
               opts);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(std::regex_search(r->out, std::regex{R"(Max cpu time\s+7\s+7\s)"})) << r->out;
  EXPECT_TRUE(std::regex_search(r->out, std::regex{R"(Max file size\s+1048576\s+1048576\s)"}))
    << r->out;
  EXPECT_TRUE(
    std::regex_search(r->out, std::regex{R"(Max address space\s+536870912\s+536870912\s)"}))
    << r->out;
}

TEST(Process, FileSizeLimitStopsAToolWritingPastIt) {
  temp_dir tmp;
  run_options opts;
  opts.limit_fsize_bytes = 64 << 10;
  auto out = tmp.path() + "/big";
  auto r = run({"dd", "if=/dev/zero", "of=" + out, "bs=64k", "count=4"}, opts);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok());
  EXPECT_EQ(r->signal, SIGXFSZ);
  EXPECT_LE(std::filesystem::file_size(out), 64u << 10);
}

TEST(Process, CpuLimitKillsASpinningTool) {
  run_options opts;
  opts.limit_cpu_s = 1;
  opts.timeout = 60s;
  auto r = run({"sh", "-c", "while :; do :; done"}, opts);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->timed_out);
  EXPECT_TRUE(r->signal == SIGXCPU || r->signal == SIGKILL) << r->signal;
}

TEST(Process, RunsAsAnotherUserWithNoGroups) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "changing user needs root";
  run_options opts;
  opts.uid = 2147483646;
  opts.gid = 2147483646;
  auto r = run({"sh", "-c", "id -u; id -g; id -G"}, opts);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_EQ(r->out, "2147483646\n2147483646\n2147483646\n");
}

TEST(Process, RunPassesChosenDescriptors) {
  temp_dir tmp;
  auto path = tmp.path() + "/f";
  std::ofstream(path) << "through fd 3";
  banger::unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  run_options opts;
  opts.pass_fds = {{fd.get(), 3}};
  auto r = run({"cat", "/proc/self/fd/3"}, opts);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_EQ(r->out, "through fd 3");
  opts.pass_fds = {{fd.get(), 1}};
  auto bad = run({"true"}, opts);
  ASSERT_FALSE(bad);
  EXPECT_EQ(banger::error_code(bad.error()), banger::ec::invalid_argument);
}
