#include "guest/init/provision.hpp"

#include <cctype>
#include <optional>
#include <set>
#include <vector>

#include "guest/init/console.hpp"
#include "guest/init/files.hpp"
#include "messages/host_files.hpp"

namespace banger::init {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos)
      break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::optional<std::string> read_item(const std::string& fw_cfg_dir,
                                     const char* name) {
  return read_whole_file(fw_cfg_dir + "/" + name + "/raw");
}

/// Writes one item's bytes to `path`; logs the outcome.
bool install(const std::string& path, const std::string& data, mode_t mode,
             provision_result& r) {
  auto err = write_file_atomic(path, data, mode);
  if (!err.empty()) {
    say("provision: cannot write " + path + ": " + err);
    ++r.failures;
    return false;
  }
  return true;
}

void install_authorized_keys(const std::string& incoming,
                             const std::string& root, provision_result& r) {
  const std::string home = root + "/root";
  const std::string dir = home + "/.ssh";
  const std::string path = dir + "/authorized_keys";
  for (auto& [d, mode] : {std::pair{home, 0700}, std::pair{dir, 0700}}) {
    if (auto err = make_directory(d, static_cast<mode_t>(mode)); !err.empty()) {
      say("provision: " + err + "; root has no SSH keys");
      ++r.failures;
      return;
    }
  }
  auto existing = read_whole_file(path);
  auto merged = merge_authorized_keys(existing.value_or(""), incoming);
  if (existing && merged == *existing)
    return;
  int before = 0, after = 0;
  for (auto line : lines_of(existing.value_or("")))
    before += !trim(line).empty();
  for (auto line : lines_of(merged))
    after += !trim(line).empty();
  if (install(path, merged, 0600, r)) {
    r.keys_added = after - before;
    say("provision: " + std::to_string(r.keys_added) + " key(s) added to "
        + path);
  }
}

/// config.toml's [guest] files: written under /root, parents made 0700
/// when missing (existing directories keep their modes).
void install_host_files(const std::string& blob, const std::string& root,
                        provision_result& r) {
  std::string why;
  auto files = host_files::decode(blob, why);
  if (!files) {
    say(std::string("provision: host files not installed: ") + why);
    ++r.failures;
    return;
  }
  const std::string home = root + "/root";
  for (auto& f : *files) {
    std::string dir = home;
    bool ok = make_directory(dir, 0700).empty();
    for (auto slash = f.path.find('/'); ok && slash != std::string::npos;
         slash = f.path.find('/', slash + 1)) {
      dir = home + "/" + f.path.substr(0, slash);
      if (auto err = make_directory(dir, 0700); !err.empty()) {
        say("provision: " + err + "; " + f.path + " not installed");
        ok = false;
      }
    }
    if (!ok) {
      ++r.failures;
      continue;
    }
    if (install(home + "/" + f.path, f.data, static_cast<mode_t>(f.mode), r)) {
      ++r.host_files;
      say("provision: host file /root/" + f.path + " installed");
    }
  }
}

} // namespace

std::string merge_authorized_keys(std::string_view existing,
                                  std::string_view incoming) {
  std::set<std::string_view> have;
  for (auto line : lines_of(existing))
    have.insert(trim(line));
  std::string out(existing);
  for (auto line : lines_of(incoming)) {
    auto key = trim(line);
    if (key.empty() || key.front() == '#' || !have.insert(key).second)
      continue;
    if (!out.empty() && out.back() != '\n')
      out += '\n';
    out.append(key);
    out += '\n';
  }
  return out;
}

provision_result provision(const std::string& fw_cfg_dir,
                           const std::string& root,
                           const std::string& fallback_key) {
  provision_result r;
  if (!is_directory(fw_cfg_dir)) {
    say("provision: no " + fw_cfg_dir
        + " (qemu_fw_cfg not loaded?); no keys provisioned");
    return r;
  }
  r.fw_cfg = true;

  if (auto keys = read_item(fw_cfg_dir, fw_cfg_item::authorized_keys))
    install_authorized_keys(*keys, root, r);
  if (auto blob = read_item(fw_cfg_dir, fw_cfg_item::host_files))
    install_host_files(*blob, root, r);

  auto openssh_key = read_item(fw_cfg_dir, fw_cfg_item::openssh_host_key);
  auto openssh_pub = read_item(fw_cfg_dir, fw_cfg_item::openssh_host_key_pub);
  const std::string ssh_dir = root + "/etc/ssh";
  if ((openssh_key || openssh_pub) && is_directory(ssh_dir)) {
    bool ok = true;
    if (openssh_key)
      ok = install(ssh_dir + "/ssh_host_ed25519_key", *openssh_key, 0600, r);
    if (ok && openssh_pub)
      ok =
          install(ssh_dir + "/ssh_host_ed25519_key.pub", *openssh_pub, 0644, r);
    r.openssh_host_key = ok && openssh_key.has_value();
    if (ok)
      say("provision: " + ssh_dir + "/ssh_host_ed25519_key installed");
  }

  if (auto key = read_item(fw_cfg_dir, fw_cfg_item::dropbear_host_key)) {
    const std::string dir = root + "/etc/dropbear";
    bool dropbear = is_directory(dir);
    for (const char* bin :
         {"/usr/sbin/dropbear", "/usr/bin/dropbear", "/sbin/dropbear"})
      dropbear = dropbear || exists(root + bin);
    if (dropbear) {
      if (auto err = make_directory(dir, 0700); !err.empty()) {
        say("provision: " + err);
        ++r.failures;
      } else if (install(dir + "/dropbear_ed25519_host_key", *key, 0600, r)) {
        r.dropbear_host_key = true;
        say("provision: " + dir + "/dropbear_ed25519_host_key installed");
      }
    }
    if (!fallback_key.empty() && install(root + fallback_key, *key, 0600, r)) {
      r.fallback_host_key = true;
      say("provision: " + root + fallback_key + " installed");
    }
  }
  return r;
}

} // namespace banger::init
