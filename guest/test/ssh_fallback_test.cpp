// banger-init's decisions for images without init or sshd, host-side: does
// the image have an sshd, who serves SSH, root's shell and what would break
// its login, dropbear's command line, the fallback host key, the PID 1
// restart policy, and clearing a directory (the unused dropbear bundle).

#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "guest/init/provision.hpp"
#include "guest/init/rootfs.hpp"
#include "guest/init/ssh_fallback.hpp"
#include "guest/init/supervise.hpp"
#include "test/unit/temp_dir.hpp"

using namespace banger::init;
using banger::test::temp_dir;

namespace {

/// An is_executable() that says yes for exactly these paths.
auto only(std::set<std::string> paths) {
  return [paths](const std::string& p) { return paths.count(p) > 0; };
}

void put(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST(ssh_fallback, finds_openssh_or_dropbear_in_the_image) {
  EXPECT_FALSE(image_has_sshd(only({})));
  EXPECT_FALSE(image_has_sshd(only({"/bin/sh", "/usr/bin/ssh", "/sbin/init"})));
  EXPECT_TRUE(image_has_sshd(only({"/usr/sbin/sshd"})));
  EXPECT_TRUE(image_has_sshd(only({"/usr/sbin/dropbear"})));
  EXPECT_TRUE(image_has_sshd(only({"/usr/bin/dropbear"})));
  EXPECT_TRUE(image_has_sshd(only({"/sbin/sshd"})));
}

TEST(ssh_fallback, who_serves_ssh) {
  EXPECT_EQ(choose_ssh_mode(true, true), ssh_mode::image);
  EXPECT_EQ(choose_ssh_mode(true, false), ssh_mode::daemon);
  // Without an init nobody would start the image's own sshd.
  EXPECT_EQ(choose_ssh_mode(false, true), ssh_mode::supervised);
  EXPECT_EQ(choose_ssh_mode(false, false), ssh_mode::supervised);
}

TEST(ssh_fallback, root_shell_comes_from_passwd) {
  EXPECT_EQ(root_shell("root:x:0:0:root:/root:/bin/bash\n"
                       "daemon:x:1:1::/:/usr/sbin/nologin\n"),
            "/bin/bash");
  EXPECT_EQ(root_shell("# comment\r\n"
                       "rooty:x:7:7::/:/bin/zsh\n"
                       "  root:x:0:0:root:/root:/bin/ash\r\n"),
            "/bin/ash");
  // No root line, an empty or missing shell field, no file text at all.
  EXPECT_EQ(root_shell("daemon:x:1:1::/:/bin/false\n"), "/bin/sh");
  EXPECT_EQ(root_shell("root:x:0:0:root:/root:\n"), "/bin/sh");
  EXPECT_EQ(root_shell("root:x:0:0\n"), "/bin/sh");
  EXPECT_EQ(root_shell(""), "/bin/sh");
}

TEST(ssh_fallback, login_problems_name_what_breaks_root_login) {
  const std::string passwd = "root:x:0:0:root:/root:/bin/bash\n";
  EXPECT_TRUE(
      login_problems(passwd, "/bin/sh\n/bin/bash\n", only({"/bin/bash"}))
          .empty());
  // No /etc/shells: libc allows /bin/sh (and /bin/csh) only.
  EXPECT_TRUE(login_problems("root:x:0:0::/root:/bin/sh", std::nullopt,
                             only({"/bin/sh"}))
                  .empty());

  auto missing = login_problems(std::nullopt, std::nullopt, only({"/bin/sh"}));
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].find("no /etc/passwd"), std::string::npos);

  auto no_root = login_problems("daemon:x:1:1::/:/bin/sh\n", std::nullopt,
                                only({"/bin/sh"}));
  ASSERT_EQ(no_root.size(), 1u);
  EXPECT_NE(no_root[0].find("no root line"), std::string::npos);

  auto no_shell = login_problems(passwd, "/bin/bash\n", only({"/bin/sh"}));
  ASSERT_EQ(no_shell.size(), 1u);
  EXPECT_NE(no_shell[0].find("/bin/bash"), std::string::npos);
  EXPECT_NE(no_shell[0].find("not an executable"), std::string::npos);

  auto unlisted =
      login_problems(passwd, "# shells\n/bin/sh\n", only({"/bin/bash"}));
  ASSERT_EQ(unlisted.size(), 1u);
  EXPECT_NE(unlisted[0].find("/etc/shells"), std::string::npos);
  EXPECT_EQ(login_problems(passwd, std::nullopt, only({"/bin/bash"})).size(),
            1u);
}

TEST(ssh_fallback, dropbear_argv_is_key_only_and_in_the_foreground) {
  auto argv = dropbear_argv();
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(argv[0], "/run/banger/dropbear/dropbear");
  auto has = [&](const std::string& flag) {
    return std::find(argv.begin(), argv.end(), flag) != argv.end();
  };
  auto after = [&](const std::string& flag) -> std::string {
    auto it = std::find(argv.begin(), argv.end(), flag);
    return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
  };
  EXPECT_TRUE(has("-F"));  // its parent (PID 1) waits for it
  EXPECT_TRUE(has("-E"));  // logs to the console, there may be no syslog
  EXPECT_TRUE(has("-s"));  // no password logins
  EXPECT_FALSE(has("-w")); // root logs in (by key)
  EXPECT_FALSE(has("-g"));
  EXPECT_EQ(after("-r"), fallback_host_key);
  EXPECT_EQ(after("-p"), "22");
  // Nothing of dropbear's lands in the image: the pid file is on /run.
  EXPECT_EQ(after("-P").rfind("/run/banger/", 0), 0u);
}

TEST(ssh_fallback, provision_writes_the_fallback_host_key) {
  temp_dir fw, root;
  std::string item = fw.path() + "/opt/banger/dropbear_ed25519_host_key";
  ASSERT_EQ(::mkdir((fw.path() + "/opt").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((fw.path() + "/opt/banger").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(item.c_str(), 0755), 0);
  put(item + "/raw", std::string("\0\0\0\x0bkey", 10));
  ASSERT_EQ(::mkdir((root.path() + "/run").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root.path() + "/run/banger").c_str(), 0755), 0);

  // Without a fallback path (and no dropbear in the image): not written.
  auto plain = provision(fw.path(), root.path());
  EXPECT_FALSE(plain.fallback_host_key);
  EXPECT_FALSE(plain.dropbear_host_key);
  EXPECT_NE(::access((root.path() + fallback_host_key).c_str(), F_OK), 0);

  auto r = provision(fw.path(), root.path(), fallback_host_key);
  EXPECT_TRUE(r.fallback_host_key);
  EXPECT_EQ(r.failures, 0);
  EXPECT_EQ(slurp(root.path() + fallback_host_key),
            std::string("\0\0\0\x0bkey", 10));
  struct stat st {};
  ASSERT_EQ(::stat((root.path() + fallback_host_key).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // The image's own dropbear directory is not created for it.
  EXPECT_NE(::access((root.path() + "/etc/dropbear").c_str(), F_OK), 0);
}

TEST(supervise, restart_delay_grows_and_is_capped) {
  using std::chrono::seconds;
  EXPECT_EQ(restart_delay(0), seconds(1));
  EXPECT_EQ(restart_delay(1), seconds(1));
  EXPECT_EQ(restart_delay(2), seconds(2));
  EXPECT_EQ(restart_delay(3), seconds(4));
  EXPECT_EQ(restart_delay(6), seconds(30));
  EXPECT_EQ(restart_delay(100), seconds(30));
}

TEST(supervise, quick_deaths_back_off_and_a_steady_run_resets) {
  auto t0 = clock::time_point{} + std::chrono::hours(1);
  int starts = 0;
  service s{"svc", [&] { return ++starts + 100; }};
  EXPECT_TRUE(start_if_due(s, t0));
  EXPECT_EQ(s.pid, 101);
  EXPECT_FALSE(start_if_due(s, t0)); // running: not started twice

  note_exit(s, t0 + std::chrono::seconds(1));
  EXPECT_EQ(s.pid, -1);
  EXPECT_EQ(s.quick_deaths, 1);
  EXPECT_FALSE(start_if_due(s, t0 + std::chrono::milliseconds(1500)));
  EXPECT_TRUE(start_if_due(s, t0 + std::chrono::seconds(2)));
  note_exit(s, t0 + std::chrono::seconds(3));
  EXPECT_EQ(s.quick_deaths, 2);
  EXPECT_EQ(s.next_start, t0 + std::chrono::seconds(5));

  // Up for a minute: the next death restarts it after a second again.
  EXPECT_TRUE(start_if_due(s, t0 + std::chrono::seconds(5)));
  note_exit(s, t0 + std::chrono::seconds(65));
  EXPECT_EQ(s.quick_deaths, 0);
  EXPECT_EQ(s.next_start, t0 + std::chrono::seconds(66));
  EXPECT_EQ(starts, 3);
}

TEST(supervise, a_failed_start_is_retried_later) {
  auto t0 = clock::time_point{} + std::chrono::hours(1);
  service s{"svc", [] { return pid_t{-1}; }};
  EXPECT_FALSE(start_if_due(s, t0));
  EXPECT_EQ(s.pid, -1);
  EXPECT_GT(s.next_start, t0);
  service none{"no start function", {}};
  EXPECT_FALSE(start_if_due(none, t0));
}

TEST(rootfs, remove_contents_empties_a_tree_and_keeps_the_directory) {
  temp_dir d;
  std::string b = d.path() + "/bundle";
  ASSERT_EQ(::mkdir(b.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((b + "/lib").c_str(), 0755), 0);
  put(b + "/dropbear", "x");
  put(b + "/lib/libc.so.6", "y");
  ASSERT_EQ(::symlink("/etc/passwd", (b + "/link").c_str()), 0);
  put(d.path() + "/beside", "kept");

  int fd = ::open(b.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  remove_contents(fd);
  struct stat st {};
  EXPECT_EQ(::stat(b.c_str(), &st), 0);
  EXPECT_NE(::lstat((b + "/lib").c_str(), &st), 0);
  EXPECT_NE(::lstat((b + "/dropbear").c_str(), &st), 0);
  EXPECT_NE(::lstat((b + "/link").c_str(), &st), 0);
  EXPECT_EQ(slurp(d.path() + "/beside"), "kept");
  EXPECT_EQ(::access("/etc/passwd", F_OK), 0); // links are not followed
}
