#include "services/ssh_config.hpp"

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/process.hpp"

namespace banger {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

// The whole file, nullopt if it does not exist.
caf::expected<std::optional<std::string>> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return std::optional<std::string>{};
    return make_error(ec::unavailable,
                      "cannot read " + path + ": " + errno_text(errno));
  }
  std::string text;
  char buf[8192];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = errno;
      ::close(fd);
      return make_error(ec::unavailable,
                        "cannot read " + path + ": " + errno_text(err));
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>{std::move(text)};
}

// Writes `text` to a temp file beside `path` and renames it over `path`, so
// that readers (ssh) see the old or the new file, never half of one.
caf::expected<void> write_atomic(const std::string& path,
                                 const std::string& text, mode_t mode) {
  auto p = fs::path(path);
  auto tmpl =
      (p.parent_path() / ("." + p.filename().string() + ".banger-XXXXXX"))
          .string();
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0)
    return make_error(ec::unavailable, "cannot create a temporary file beside "
                                           + path + ": " + errno_text(errno));
  auto fail = [&](const std::string& what) {
    auto err = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    return make_error(ec::unavailable, "cannot " + what + " " + tmpl + " (for "
                                           + path + "): " + errno_text(err));
  };
  std::string_view rest = text;
  while (!rest.empty()) {
    auto n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail("write");
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fchmod(fd, mode) != 0)
    return fail("chmod");
  // Keep the owner of a file root rewrites for a user; harmless otherwise.
  struct stat old {};
  if (::stat(path.c_str(), &old) == 0)
    (void)!::fchown(fd, old.st_uid, old.st_gid);
  if (::fsync(fd) != 0)
    return fail("sync");
  if (::close(fd) != 0) {
    auto err = errno;
    ::unlink(tmpl.c_str());
    return make_error(ec::unavailable,
                      "cannot write " + tmpl + ": " + errno_text(err));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    auto err = errno;
    ::unlink(tmpl.c_str());
    return make_error(ec::unavailable, "cannot rename " + tmpl + " to " + path
                                           + ": " + errno_text(err));
  }
  return {};
}

// Creates `dir` (and its parents) with `mode` for the last one if missing.
caf::expected<void> ensure_dir(const std::string& dir, mode_t mode) {
  std::error_code err;
  if (fs::is_directory(dir, err))
    return {};
  fs::create_directories(fs::path(dir).parent_path(), err);
  if (err)
    return make_error(ec::unavailable,
                      "cannot create " + fs::path(dir).parent_path().string()
                          + ": " + err.message());
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
    return make_error(ec::unavailable,
                      "cannot create " + dir + ": " + errno_text(errno));
  // mkdir applies the umask; the mode is what we promise.
  if (::chmod(dir.c_str(), mode) != 0)
    return make_error(ec::unavailable,
                      "cannot chmod " + dir + ": " + errno_text(errno));
  return {};
}

// One line of a text with its line ending ("", "\n" or "\r\n").
struct line {
  std::string_view body;
  std::string_view eol;
};

std::vector<line> split_lines(std::string_view text) {
  std::vector<line> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
      out.push_back({text, {}});
      break;
    }
    auto body_len = (nl > 0 && text[nl - 1] == '\r') ? nl - 1 : nl;
    out.push_back(
        {text.substr(0, body_len), text.substr(body_len, nl + 1 - body_len)});
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::string include_line(const std::string& target) {
  return "Include \"" + target + "\"";
}

// ssh_config keywords are case-insensitive.
bool is_include_keyword(std::string_view body) {
  constexpr std::string_view kw = "include";
  auto start = body.find_first_not_of(" \t");
  if (start == std::string_view::npos || body.size() < start + kw.size() + 1)
    return false;
  for (std::size_t i = 0; i < kw.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(body[start + i])) != kw[i])
      return false;
  auto next = body[start + kw.size()];
  return next == ' ' || next == '\t' || next == '=';
}

std::string trim_end(std::string s) {
  while (!s.empty()
         && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '
             || s.back() == '\t'))
    s.pop_back();
  return s;
}

// The host patterns field of a known_hosts line, or "" for comments, blank
// lines and marked (@cert-authority, @revoked) lines, which we never touch.
std::string_view host_field(std::string_view body) {
  auto start = body.find_first_not_of(" \t");
  if (start == std::string_view::npos || body[start] == '#'
      || body[start] == '@')
    return {};
  auto end = body.find_first_of(" \t", start);
  return body.substr(start, end == std::string_view::npos
                                ? std::string_view::npos
                                : end - start);
}

// `text` with `alias` taken out of every host list; lines left with no host
// go. Every other byte stays.
std::string drop_alias(std::string_view text, const std::string& alias) {
  std::string out;
  for (auto& l : split_lines(text)) {
    auto hosts = host_field(l.body);
    if (hosts.empty()) {
      out.append(l.body).append(l.eol);
      continue;
    }
    std::string kept;
    bool dropped = false;
    std::string_view rest = hosts;
    while (true) {
      auto comma = rest.find(',');
      auto h = rest.substr(0, comma);
      if (h == alias)
        dropped = true;
      else
        kept.append(kept.empty() ? "" : ",").append(h);
      if (comma == std::string_view::npos)
        break;
      rest.remove_prefix(comma + 1);
    }
    if (!dropped) {
      out.append(l.body).append(l.eol);
      continue;
    }
    if (kept.empty())
      continue;
    auto at = static_cast<std::size_t>(hosts.data() - l.body.data());
    out.append(l.body.substr(0, at))
        .append(kept)
        .append(l.body.substr(at + hosts.size()))
        .append(l.eol);
  }
  return out;
}

caf::expected<void> check_alias(const std::string& alias) {
  if (alias.empty()
      || alias.find_first_of(" \t\r\n,#*?!@[]") != std::string::npos)
    return make_error(ec::invalid_argument,
                      "invalid known_hosts name \"" + alias
                          + "\": it must be a plain host name like box.vm");
  return {};
}

// Rewrites `path` with `text` if it differs; true if it did.
caf::expected<bool> replace_if_changed(const std::string& path,
                                       const std::optional<std::string>& old,
                                       const std::string& text, mode_t mode) {
  if (old && *old == text)
    return false;
  if (auto ok = write_atomic(path, text, mode); !ok)
    return ok.error();
  return true;
}

mode_t mode_of(const std::string& path, mode_t fallback) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : fallback;
}

} // namespace

std::string ssh_dir(const paths& p) {
  return p.state_dir + "/ssh";
}

std::string ssh_key_path(const paths& p) {
  return ssh_dir(p) + "/id_ed25519";
}

std::string ssh_config_path(const paths& p) {
  return ssh_dir(p) + "/config";
}

std::string known_hosts_path(const paths& p) {
  return ssh_dir(p) + "/known_hosts";
}

std::string banger_executable() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  // bangerd and banger live side by side; either may write the config.
  return ec ? std::string{"banger"} : (self.parent_path() / "banger").string();
}

std::string ssh_config_text(const paths& p) {
  auto q = [](const std::string& s) { return "\"" + s + "\""; };
  return "# Written by banger; rewritten on `banger ssh-config --install`.\n"
         "# Host keys of VMs live in banger's own known_hosts, by VM name;\n"
         "# the daemon replaces a VM's entry when it boots and drops it when\n"
         "# the VM is deleted, so names and IPs can be reused safely.\n"
         "Host *.vm\n"
         "  User root\n"
         "  IdentityFile "
         + q(ssh_key_path(p))
         + "\n"
           "  IdentitiesOnly yes\n"
           "  UserKnownHostsFile "
         + q(known_hosts_path(p))
         + "\n"
           "  GlobalKnownHostsFile /dev/null\n"
           "  # Reaches the VM through bangerd (no system DNS needed).\n"
           "  ProxyCommand "
         + q(banger_executable()) + " vm proxy %h %p\n"
           "  StrictHostKeyChecking accept-new\n"
           "  CheckHostIP no\n"
           "  HashKnownHosts no\n"
           "  LogLevel ERROR\n";
}

caf::expected<bool> ensure_user_key(const paths& p) {
  if (auto ok = ensure_dir(ssh_dir(p), 0700); !ok)
    return ok.error();
  auto key = ssh_key_path(p);
  auto pub = key + ".pub";
  struct stat st {};
  if (::stat(key.c_str(), &st) == 0) {
    if ((st.st_mode & 07777) != 0600 && ::chmod(key.c_str(), 0600) != 0)
      return make_error(ec::unavailable,
                        "cannot chmod 0600 " + key + ": " + errno_text(errno));
    if (::access(pub.c_str(), F_OK) == 0)
      return false;
    run_options opts;
    opts.timeout = std::chrono::seconds(30);
    auto r = run({"ssh-keygen", "-y", "-f", key}, opts);
    if (!r)
      return r.error();
    if (!r->ok())
      return make_error(ec::unavailable,
                        "cannot derive " + pub + " from " + key + ": "
                            + trim_end(r->err)
                            + "; delete both to get a new key");
    if (auto ok = write_atomic(pub, trim_end(r->out) + " banger\n", 0644); !ok)
      return ok.error();
    return true;
  }
  // Generated under a temporary name and renamed, so that an interrupted run
  // never leaves a half-written key that later runs would trust.
  auto tmp = key + ".tmp-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  ::unlink((tmp + ".pub").c_str());
  run_options opts;
  opts.timeout = std::chrono::seconds(30);
  auto r = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "banger",
                "-f", tmp},
               opts);
  if (!r)
    return r.error();
  if (!r->ok()) {
    ::unlink(tmp.c_str());
    ::unlink((tmp + ".pub").c_str());
    return make_error(ec::unavailable, "ssh-keygen failed to create " + key
                                           + ": " + trim_end(r->err + r->out));
  }
  if (::chmod(tmp.c_str(), 0600) != 0
      || ::rename((tmp + ".pub").c_str(), pub.c_str()) != 0
      || ::rename(tmp.c_str(), key.c_str()) != 0) {
    auto err = errno;
    ::unlink(tmp.c_str());
    ::unlink((tmp + ".pub").c_str());
    return make_error(ec::unavailable, "cannot install the new key as " + key
                                           + ": " + errno_text(err));
  }
  return true;
}

caf::expected<bool> ensure_ssh_config(const paths& p) {
  if (auto ok = ensure_dir(ssh_dir(p), 0700); !ok)
    return ok.error();
  auto kh = known_hosts_path(p);
  if (::access(kh.c_str(), F_OK) != 0)
    if (auto ok = write_atomic(kh, "", 0600); !ok)
      return ok.error();
  auto path = ssh_config_path(p);
  auto old = read_file(path);
  if (!old)
    return old.error();
  return replace_if_changed(path, *old, ssh_config_text(p), 0600);
}

caf::expected<bool> known_hosts_set(const paths& p,
                                    const std::string& host_alias,
                                    const std::string& pubkey_line) {
  if (auto ok = check_alias(host_alias); !ok)
    return ok.error();
  auto key = trim_end(pubkey_line);
  auto fields = key.find(' ');
  if (key.empty() || fields == std::string::npos || fields + 1 >= key.size()
      || key.find_first_of("\r\n") != std::string::npos)
    return make_error(
        ec::invalid_argument,
        "invalid host key for " + host_alias
            + ": expected one line \"<type> <base64> [comment]\"");
  if (auto ok = ensure_dir(ssh_dir(p), 0700); !ok)
    return ok.error();
  auto path = known_hosts_path(p);
  auto old = read_file(path);
  if (!old)
    return old.error();
  auto text = drop_alias(old->value_or(""), host_alias);
  if (!text.empty() && text.back() != '\n')
    text += '\n';
  text += host_alias + " " + key + "\n";
  return replace_if_changed(path, *old, text, mode_of(path, 0600));
}

caf::expected<bool> known_hosts_remove(const paths& p,
                                       const std::string& host_alias) {
  if (auto ok = check_alias(host_alias); !ok)
    return ok.error();
  auto path = known_hosts_path(p);
  auto old = read_file(path);
  if (!old)
    return old.error();
  if (!*old)
    return false;
  return replace_if_changed(path, *old, drop_alias(**old, host_alias),
                            mode_of(path, 0600));
}

// -- ~/.ssh/config -------------------------------------------------------

bool has_include(const std::string& text, const std::string& include_target) {
  auto lines = split_lines(text);
  auto want = include_line(include_target);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i)
    if (lines[i].body == include_marker && lines[i + 1].body == want)
      return true;
  return false;
}

std::string without_include(const std::string& text) {
  auto lines = split_lines(text);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].body == include_marker) {
      // The marker is ours; so is the Include right after it.
      if (i + 1 < lines.size() && is_include_keyword(lines[i + 1].body))
        ++i;
      continue;
    }
    out.append(lines[i].body).append(lines[i].eol);
  }
  return out;
}

std::string with_include(const std::string& text,
                         const std::string& include_target) {
  // Present anywhere (the user may have moved it): leave the file alone.
  if (has_include(text, include_target))
    return text;
  // Blocks for another target (XDG_STATE_HOME changed) are replaced.
  auto rest = without_include(text);
  auto first = split_lines(rest);
  std::string eol = (!first.empty() && first[0].eol == "\r\n") ? "\r\n" : "\n";
  return include_marker + eol + include_line(include_target) + eol + rest;
}

std::string user_ssh_config_path(const std::string& home) {
  return home + "/.ssh/config";
}

namespace {

// The file to rewrite: a symlinked ~/.ssh/config (dotfile managers) is
// edited where it points, so that the link survives.
std::string real_config_path(const std::string& home) {
  auto path = user_ssh_config_path(home);
  std::error_code err;
  if (fs::is_symlink(path, err)) {
    auto target = fs::weakly_canonical(path, err);
    if (!err)
      return target.string();
  }
  return path;
}

} // namespace

caf::expected<bool> install_include(const std::string& home, const paths& p) {
  if (home.empty() || home[0] != '/')
    return make_error(ec::invalid_argument,
                      "HOME is \"" + home
                          + "\", not an absolute path; set HOME to your home "
                            "directory");
  if (auto ok = ensure_dir(home + "/.ssh", 0700); !ok)
    return ok.error();
  auto path = real_config_path(home);
  auto old = read_file(path);
  if (!old)
    return old.error();
  auto text = with_include(old->value_or(""), ssh_config_path(p));
  return replace_if_changed(path, *old, text, mode_of(path, 0600));
}

caf::expected<bool> uninstall_include(const std::string& home) {
  auto path = real_config_path(home);
  auto old = read_file(path);
  if (!old)
    return old.error();
  if (!*old)
    return false;
  return replace_if_changed(path, *old, without_include(**old),
                            mode_of(path, 0600));
}

bool include_installed(const std::string& home, const paths& p) {
  auto text = read_file(real_config_path(home));
  return text && *text && has_include(**text, ssh_config_path(p));
}

} // namespace banger
