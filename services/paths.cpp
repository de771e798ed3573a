#include "services/paths.hpp"

#include <cerrno>
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
  return p;
}

std::string ensure_dirs(const paths& p) {
  namespace fs = std::filesystem;
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
