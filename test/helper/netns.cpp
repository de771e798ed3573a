#include "test/helper/netns.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "messages/wire.hpp"

namespace banger::test {

namespace {

ino_t netns_inode() {
  struct stat st {};
  if (::stat("/proc/thread-self/ns/net", &st) != 0)
    return 0;
  return st.st_ino;
}

} // namespace

void helper_netns::SetUp() {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root: creates a network namespace";
  orig_ns_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(orig_ns_, 0) << std::strerror(errno);
  auto before = netns_inode();
  ASSERT_EQ(::unshare(CLONE_NEWNET), 0)
      << "cannot create a network namespace: " << std::strerror(errno);
  // Everything below happens in the new namespace: prove we are there.
  ASSERT_NE(netns_inode(), before) << "still in the original namespace";
  char tmpl[] = "/tmp/banger-helper-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
  dir_ = tmpl;
  ::chmod(dir_.c_str(), 0711); // other uids must reach the socket
  socket_ = dir_ + "/helper.sock";
}

void helper_netns::start_helper(std::vector<std::string> extra,
                                std::vector<std::string> wrapper) {
  // BANGER_TEST_HELPER_BIN runs these tests against another helper (say,
  // an older build behind a wrapper), to show what a change fixed.
  const char* bin = std::getenv("BANGER_TEST_HELPER_BIN");
  std::vector<std::string> args = {
      bin != nullptr && *bin != '\0' ? bin : BANGER_HELPER_BIN,
      "--socket",
      socket_,
      "--owner-uid",
      std::to_string(owner_uid),
      "--state-dir",
      dir_};
  // Root's network policy for the tests: one bridge and subnet, unless the
  // test gives its own.
  auto given = [&](const char* flag) {
    return std::find(extra.begin(), extra.end(), flag) != extra.end();
  };
  if (!given("--bridge"))
    args.insert(args.end(), {"--bridge", test_bridge});
  if (!given("--subnet"))
    args.insert(args.end(), {"--subnet", test_subnet});
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.begin(), wrapper.begin(), wrapper.end());
  auto log = dir_ + "/helper.log";
  pid_t parent = ::getpid();
  helper_pid_ = ::fork();
  ASSERT_GE(helper_pid_, 0) << std::strerror(errno);
  if (helper_pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0)
      ::dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = wire::connect_unix(socket_);
    if (fd >= 0) {
      ::close(fd);
      return;
    }
    int status = 0;
    if (::waitpid(helper_pid_, &status, WNOHANG) == helper_pid_) {
      helper_pid_ = -1;
      FAIL() << "banger-helper exited at start:\n" << helper_log();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "banger-helper did not accept within 10 s:\n" << helper_log();
}

int helper_netns::stop_helper() {
  if (helper_pid_ <= 0)
    return -1;
  ::kill(helper_pid_, SIGTERM);
  int status = -1;
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(helper_pid_, &status, WNOHANG) == helper_pid_) {
      helper_pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(helper_pid_, SIGKILL);
  ::waitpid(helper_pid_, &status, 0);
  helper_pid_ = -1;
  return status;
}

std::string helper_netns::helper_log() const {
  std::ifstream in(dir_ + "/helper.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void helper_netns::TearDown() {
  if (helper_pid_ > 0)
    stop_helper();
  if (HasFailure() && !dir_.empty())
    std::cerr << "--- helper log ---\n" << helper_log() << "---\n";
  if (orig_ns_ >= 0) {
    // The namespace dies with its last user: nothing to delete by hand.
    EXPECT_EQ(::setns(orig_ns_, CLONE_NEWNET), 0) << std::strerror(errno);
    ::close(orig_ns_);
    orig_ns_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

} // namespace banger::test
