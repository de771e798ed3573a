#include "guest/init/ssh_fallback.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/init/agent_launch.hpp"
#include "guest/init/console.hpp"
#include "guest/init/files.hpp"
#include "guest/init/rootfs.hpp"

namespace banger::init {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos)
      return out;
    s.remove_prefix(at + 1);
  }
}

/// The lines of a file with comments and surrounding blanks removed.
std::vector<std::string> meaningful_lines(std::string_view text) {
  std::vector<std::string> out;
  for (auto line : split(text, '\n')) {
    auto hash = line.find('#');
    if (hash != std::string_view::npos)
      line = line.substr(0, hash);
    while (
        !line.empty()
        && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
      line.remove_prefix(1);
    if (!line.empty())
      out.emplace_back(line);
  }
  return out;
}

bool has_root_entry(std::string_view passwd) {
  for (auto& line : meaningful_lines(passwd))
    if (line.rfind("root:", 0) == 0)
      return true;
  return false;
}

} // namespace

const std::vector<std::string>& sshd_paths() {
  static const std::vector<std::string> paths{
      "/usr/sbin/sshd",       "/sbin/sshd",
      "/usr/local/sbin/sshd", "/usr/sbin/dropbear",
      "/usr/bin/dropbear",    "/sbin/dropbear",
      "/bin/dropbear",        "/usr/local/sbin/dropbear"};
  return paths;
}

bool image_has_sshd(
    const std::function<bool(const std::string&)>& is_executable) {
  return std::any_of(sshd_paths().begin(), sshd_paths().end(), is_executable);
}

ssh_mode choose_ssh_mode(bool has_init, bool has_sshd) {
  if (!has_init)
    return ssh_mode::supervised;
  return has_sshd ? ssh_mode::image : ssh_mode::daemon;
}

std::string root_shell(std::string_view passwd) {
  for (auto& line : meaningful_lines(passwd)) {
    if (line.rfind("root:", 0) != 0)
      continue;
    auto fields = split(line, ':');
    if (fields.size() >= 7 && !fields[6].empty())
      return std::string(fields[6]);
    return "/bin/sh";
  }
  return "/bin/sh";
}

std::vector<std::string>
login_problems(const std::optional<std::string>& passwd,
               const std::optional<std::string>& shells,
               const std::function<bool(const std::string&)>& is_executable) {
  std::vector<std::string> out;
  if (!passwd) {
    out.push_back("the image has no /etc/passwd: SSH logins as root will "
                  "fail (vm exec still works)");
    return out;
  }
  if (!has_root_entry(*passwd))
    out.push_back("/etc/passwd has no root line: SSH logins as root will "
                  "fail (vm exec still works)");
  auto shell = root_shell(*passwd);
  if (!is_executable(shell))
    out.push_back("root's shell " + shell
                  + " (from /etc/passwd) is not an "
                    "executable in the image: SSH sessions will end at once");
  // Without /etc/shells, libc's getusershell() allows /bin/sh and /bin/csh.
  auto listed = shells ? meaningful_lines(*shells)
                       : std::vector<std::string>{"/bin/sh", "/bin/csh"};
  if (std::find(listed.begin(), listed.end(), shell) == listed.end())
    out.push_back("root's shell " + shell
                  + " is not listed in /etc/shells: "
                    "dropbear refuses the login");
  return out;
}

std::vector<std::string> dropbear_argv() {
  return {std::string(fallback_bundle_dir) + "/dropbear",
          "-F",
          "-E",
          "-s",
          "-r",
          fallback_host_key,
          "-P",
          std::string(fallback_dir) + "/dropbear.pid",
          "-p",
          "22"};
}

int open_dropbear_bundle() {
  int fd = ::open_tree(AT_FDCWD, dropbear_bundle,
                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0 && errno != ENOENT)
    say_errno(std::string("ssh fallback: open_tree ") + dropbear_bundle, errno);
  return fd;
}

bool prepare_fallback(int bundle_fd) {
  if (bundle_fd < 0) {
    say("ssh fallback: the initramfs has no dropbear (rebuild the kernel "
        "with scripts/build-kernel.sh); no SSH in this VM");
    return false;
  }
  if (!mount_run())
    return false;
  for (const char* dir : {fallback_dir, fallback_bundle_dir})
    if (auto err = make_directory(dir, 0755); !err.empty()) {
      say("ssh fallback: " + err);
      return false;
    }
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV;
  if (::mount_setattr(bundle_fd, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
    say_errno("ssh fallback: make the bundle read-only", errno);
  if (::move_mount(bundle_fd, "", AT_FDCWD, fallback_bundle_dir,
                   MOVE_MOUNT_F_EMPTY_PATH)
      != 0) {
    say_errno(std::string("ssh fallback: mount the bundle on ")
                  + fallback_bundle_dir,
              errno);
    return false;
  }
  mount_devpts();
  return true;
}

void discard_bundle(int bundle_fd) {
  if (bundle_fd < 0)
    return;
  int dir = ::openat(bundle_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0)
    remove_contents(dir);
  ::close(bundle_fd);
}

pid_t start_dropbear() {
  auto argv = dropbear_argv();
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = fork_service("dropbear");
  if (pid != 0)
    return pid;
  char* envp[] = {const_cast<char*>(service_path_env), nullptr};
  ::execve(args[0], args.data(), envp);
  say_errno(std::string("exec ") + args[0], errno);
  ::_exit(127);
}

} // namespace banger::init
