#include "services/privilege.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/safe_dir.hpp"

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
  if (auto why = check_runtime_dir(p); !why.empty())
    return make_error(ec::invalid_argument, why);
  // The top directories only, by descriptor: what lies in them is the
  // owner's to create once root is gone.
  for (const auto& top : {p.state_dir, p.runtime_dir})
    if (auto ok = hand_over_dir(top, owner.uid, owner.gid); !ok)
      return ok;
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
