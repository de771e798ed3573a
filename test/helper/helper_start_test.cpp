// banger-helper's start-up checks: where it agrees to put its socket.
// In a private network namespace like every test that runs the helper.

#include <gtest/gtest.h>

#include <fstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/helper/netns.hpp"

namespace banger::test {
namespace {

class HelperStart : public helper_netns {
protected:
  /// Runs the helper to completion (it must refuse to start); returns its
  /// exit status and fills `err` with its stderr.
  int run_refused(const std::string& socket, std::string& err) {
    auto log = dir_ + "/start.log";
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0)
        ::dup2(fd, 2);
      auto uid = std::to_string(owner_uid);
      ::execl(BANGER_HELPER_BIN, BANGER_HELPER_BIN, "--socket", socket.c_str(),
              "--owner-uid", uid.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = -1;
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        std::ifstream in(log);
        err.assign(std::istreambuf_iterator<char>(in), {});
        return status;
      }
      ::usleep(10000);
    }
    ::kill(pid, SIGKILL); // it kept running: that is the failure
    ::waitpid(pid, &status, 0);
    return -1;
  }
};

TEST_F(HelperStart, RefusesADirectoryOthersCanWrite) {
  auto open_dir = dir_ + "/open";
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  std::string err;
  auto status = run_refused(open_dir + "/helper.sock", err);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(err.find("writable by root only"), std::string::npos) << err;
  struct stat st {};
  EXPECT_NE(::stat((open_dir + "/helper.sock").c_str(), &st), 0);
}

TEST_F(HelperStart, RefusesToReplaceAFileThatIsNotASocket) {
  auto path = dir_ + "/precious";
  { std::ofstream(path) << "keep me"; }
  std::string err;
  auto status = run_refused(path, err);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(err.find("is not a socket"), std::string::npos) << err;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "keep me");
}

TEST_F(HelperStart, RequiresAnOwner) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open("/dev/null", O_WRONLY);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    auto sock = dir_ + "/helper.sock";
    ::execl(BANGER_HELPER_BIN, BANGER_HELPER_BIN, "--socket", sock.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = -1;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(WEXITSTATUS(status), 127);
}

} // namespace
} // namespace banger::test
