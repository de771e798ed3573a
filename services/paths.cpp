#include "services/paths.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace banger {

namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  // The XDG spec says relative paths are invalid and must be ignored.
  return (v != nullptr && v[0] == '/') ? std::string(v) : std::string();
}

std::string fmt_mode(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode);
  return buf;
}

std::string home_dir(uid_t uid) {
  if (uid == getuid())
    if (const char* h = std::getenv("HOME"); h != nullptr && h[0] == '/')
      return h;
  if (auto* pw = getpwuid(uid); pw != nullptr && pw->pw_dir != nullptr)
    return pw->pw_dir;
  return "/";
}

} // namespace

paths resolve_paths() {
  std::error_code ec;
  if (std::filesystem::exists(system_install_marker(), ec))
    return system_paths();
  return resolve_paths_for(getuid());
}

paths system_paths() {
  paths p;
  p.state_dir = "/var/lib/banger";
  p.config_dir = "/etc/banger";
  p.runtime_dir = "/run/banger/bangerd";
  p.helper_runtime_dir = "/run/banger/helper";
  return p;
}

std::string system_install_marker(const std::string& root) {
  return root + "/etc/banger/system-install.toml";
}

paths resolve_paths_for(uid_t uid) {
  auto home_dir = [uid] { return banger::home_dir(uid); };
  paths p;
  auto state = env_or_empty("XDG_STATE_HOME");
  if (state.empty())
    state = home_dir() + "/.local/state";
  auto config = env_or_empty("XDG_CONFIG_HOME");
  if (config.empty())
    config = home_dir() + "/.config";
  auto runtime = env_or_empty("XDG_RUNTIME_DIR");
  p.state_dir = state + "/banger";
  p.config_dir = config + "/banger";
  p.runtime_dir = runtime.empty()
                    ? "/tmp/banger-" + std::to_string(uid)
                    : runtime + "/banger";
  p.uid = uid;
  p.runtime_fallback = runtime.empty();
  return p;
}

std::string paths::helper_dir() const {
  if (!helper_runtime_dir.empty())
    return helper_runtime_dir;
  // FNV-1a of the runtime dir: short, stable, and the same in the root
  // daemon start and in the daemon that later connects.
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : runtime_dir)
    h = (h ^ c) * 1099511628211ull;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(h & 0xffffffffu));
  return root_run_dir() + "/helper-" + std::to_string(uid) + "-" + hex;
}

std::string root_run_dir() {
  auto dir = env_or_empty("BANGER_ROOT_RUN_DIR");
  return dir.empty() ? "/run/banger" : dir;
}

std::string check_runtime_dir(const paths& p) {
  if (!p.runtime_fallback)
    return {};
  struct stat st {};
  if (::lstat(p.runtime_dir.c_str(), &st) != 0)
    return errno == ENOENT
             ? std::string{}
             : "cannot inspect " + p.runtime_dir + ": " + std::strerror(errno);
  auto fix = "; XDG_RUNTIME_DIR is not set, so banger uses " + p.runtime_dir
             + " and trusts it only as its own: remove it (as root) or set "
               "XDG_RUNTIME_DIR to a directory of yours";
  if (!S_ISDIR(st.st_mode))
    return p.runtime_dir + " is not a directory (a symlink or file another user "
           + "may have planted)" + fix;
  if (st.st_uid != p.uid)
    return p.runtime_dir + " belongs to uid " + std::to_string(st.st_uid)
           + ", not to uid " + std::to_string(p.uid) + fix;
  if ((st.st_mode & 07777) != 0700)
    return p.runtime_dir + " has mode "
           + fmt_mode(st.st_mode & 07777) + ", not 0700" + fix;
  return {};
}

std::string ensure_dirs(const paths& p) {
  namespace fs = std::filesystem;
  if (p.runtime_fallback) {
    // Made by us with 0700, or checked to be ours: never created through a
    // name someone else holds.
    if (::mkdir(p.runtime_dir.c_str(), 0700) != 0 && errno != EEXIST)
      return "cannot create " + p.runtime_dir + ": " + std::strerror(errno);
    if (auto why = check_runtime_dir(p); !why.empty())
      return why;
  }
  for (auto& dir : {p.state_dir, p.vms_dir(), p.images_dir(), p.kernels_dir(),
                    p.runtime_dir}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
      return "cannot create " + dir + ": " + ec.message();
  }
  if (::chmod(p.runtime_dir.c_str(), 0700) != 0)
    return "cannot chmod " + p.runtime_dir + ": " + std::strerror(errno);
  return {};
}

} // namespace banger
