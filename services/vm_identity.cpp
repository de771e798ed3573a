#include "services/vm_identity.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>

#include "services/error.hpp"
#include "services/ssh_config.hpp"
#include "services/ssh_hostkey.hpp"

namespace banger {

namespace {

/// Creates run in parallel workers: the first use makes banger's user key,
/// and every create and delete rewrites the one known_hosts file. One at a
/// time, or two creates race on the key's temporary name and known_hosts
/// loses entries.
std::mutex identity_mutex;

} // namespace

caf::expected<void> make_vm_identity(const paths& p, const std::string& dir,
                                     const std::string& vm_name) {
  std::lock_guard lock{identity_mutex};
  if (auto made = ensure_user_key(p); !made)
    return std::move(made.error());
  if (auto cfg = ensure_ssh_config(p); !cfg)
    return std::move(cfg.error());
  std::ifstream pub{ssh_key_path(p) + ".pub", std::ios::binary};
  std::string key{std::istreambuf_iterator<char>(pub), {}};
  if (key.empty())
    return make_error(ec::unavailable,
                      "banger's public key " + ssh_key_path(p)
                        + ".pub is empty or unreadable; delete the key pair "
                          "and retry (banger makes a new one)");
  auto keys_path = dir + "/authorized_keys";
  {
    std::ofstream out{keys_path, std::ios::binary | std::ios::trunc};
    out << key;
    if (key.back() != '\n')
      out << '\n';
    if (!out)
      return make_error(ec::unavailable, "cannot write " + keys_path);
  }
  auto host = make_vm_host_key(dir);
  if (!host)
    return std::move(host.error());
  if (auto set = known_hosts_set(p, vm_name + ".vm", host->public_line); !set)
    return std::move(set.error());
  return caf::unit;
}

caf::expected<void> forget_vm_identity(const paths& p,
                                       const std::string& vm_name) {
  std::lock_guard lock{identity_mutex};
  if (auto r = known_hosts_remove(p, vm_name + ".vm"); !r)
    return std::move(r.error());
  return caf::unit;
}

} // namespace banger
