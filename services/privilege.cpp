#include "services/privilege.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "services/error.hpp"

namespace banger {

namespace {

caf::expected<user_entry> from_passwd(const passwd* pw) {
  user_entry u;
  u.uid = pw->pw_uid;
  u.gid = pw->pw_gid;
  u.name = pw->pw_name != nullptr ? pw->pw_name : "";
  u.home = pw->pw_dir != nullptr ? pw->pw_dir : "/";
  return u;
}

} // namespace

caf::expected<user_entry> lookup_user(const std::string& name_or_uid) {
  std::vector<char> buf(16384);
  passwd pwd{};
  passwd* found = nullptr;
  unsigned long uid = 0;
  auto* end = name_or_uid.data() + name_or_uid.size();
  auto [ptr, ec] = std::from_chars(name_or_uid.data(), end, uid);
  int rc = (!name_or_uid.empty() && ec == std::errc{} && ptr == end)
             ? ::getpwuid_r(static_cast<uid_t>(uid), &pwd, buf.data(), buf.size(), &found)
             : ::getpwnam_r(name_or_uid.c_str(), &pwd, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr)
    return make_error(ec::not_found,
                      fmt::format("--owner {}: no such user{}; name an existing "
                                  "user (see: getent passwd)",
                                  name_or_uid.empty() ? "\"\"" : name_or_uid,
                                  rc != 0 ? std::string{" ("} + std::strerror(rc) + ")" : ""));
  return from_passwd(found);
}

caf::expected<user_entry> daemon_owner(const std::string& flag,
                                       std::string* warning) {
  if (!flag.empty())
    return lookup_user(flag);
  if (::geteuid() == 0) {
    if (const char* sudo = std::getenv("SUDO_USER");
        sudo != nullptr && *sudo != '\0' && std::string{sudo} != "root")
      return lookup_user(sudo);
    if (warning != nullptr)
      *warning = "bangerd runs as root: no --owner was given and SUDO_USER is "
                 "not set; run `sudo banger daemon start` from your account, or "
                 "pass --owner USER, so that only banger-helper keeps root";
  }
  return lookup_user(std::to_string(::geteuid()));
}

caf::expected<void> hand_over_dirs(const paths& p, const user_entry& owner) {
  namespace fs = std::filesystem;
  if (auto why = ensure_dirs(p); !why.empty())
    return make_error(ec::unavailable, why);
  for (const auto& top : {p.state_dir, p.runtime_dir}) {
    auto own = [&](const fs::path& path) -> caf::expected<void> {
      if (::lchown(path.c_str(), owner.uid, owner.gid) != 0)
        return make_error(ec::unavailable,
                          fmt::format("cannot give {} to {}: {}", path.string(),
                                      owner.name, std::strerror(errno)));
      return caf::unit;
    };
    if (auto ok = own(top); !ok)
      return ok;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(top, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path() == fs::path(p.helper_dir())) {
        it.disable_recursion_pending(); // root's, for banger-helper
        continue;
      }
      if (auto ok = own(it->path()); !ok)
        return ok;
    }
    if (ec)
      return make_error(ec::unavailable,
                        fmt::format("cannot walk {}: {}", top, ec.message()));
  }
  return caf::unit;
}

caf::expected<void> drop_to(const user_entry& owner) {
  auto fail = [&](const char* what) {
    return make_error(ec::internal,
                      fmt::format("cannot become user {} ({}): {}", owner.name,
                                  what, std::strerror(errno)));
  };
  if (::initgroups(owner.name.c_str(), owner.gid) != 0)
    return fail("initgroups");
  if (::setresgid(owner.gid, owner.gid, owner.gid) != 0)
    return fail("setresgid");
  if (::setresuid(owner.uid, owner.uid, owner.uid) != 0)
    return fail("setresuid");
  if (owner.uid != 0 && (::setuid(0) == 0 || ::geteuid() == 0))
    return make_error(ec::internal,
                      "dropping root did not stick (setuid(0) still works); "
                      "refusing to run the daemon as root by accident");
  ::setenv("HOME", owner.home.c_str(), 1);
  ::setenv("USER", owner.name.c_str(), 1);
  ::setenv("LOGNAME", owner.name.c_str(), 1);
  return caf::unit;
}

} // namespace banger
