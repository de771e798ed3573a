#include "services/ssh_hostkey.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "messages/wire.hpp"
#include "services/error.hpp"
#include "services/process.hpp"

namespace banger {

namespace {

constexpr std::string_view pem_begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr std::string_view pem_end = "-----END OPENSSH PRIVATE KEY-----";
constexpr std::string_view magic{"openssh-key-v1\0", 15};
constexpr std::string_view key_type = "ssh-ed25519";

/// Reads SSH wire values (RFC 4251 uint32 and string) off a byte string.
class ssh_reader {
public:
  explicit ssh_reader(std::string_view data) : rest_(data) {}

  bool u32(std::uint32_t& out) {
    if (rest_.size() < 4)
      return false;
    auto b = reinterpret_cast<const unsigned char*>(rest_.data());
    out = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16)
          | (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
    rest_.remove_prefix(4);
    return true;
  }

  bool string(std::string_view& out) {
    std::uint32_t n = 0;
    if (!u32(n) || rest_.size() < n)
      return false;
    out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }

private:
  std::string_view rest_;
};

void put_u32(std::string& out, std::uint32_t v) {
  out += static_cast<char>(v >> 24);
  out += static_cast<char>(v >> 16);
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v);
}

void put_string(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

caf::error bad_key(const std::string& why) {
  return make_error(ec::invalid_argument,
                    "not a usable OpenSSH ed25519 private key: " + why
                        + "; generate one with ssh-keygen -t ed25519 -N \"\"");
}

std::string trim_end(std::string s) {
  while (!s.empty()
         && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

caf::expected<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(ec::unavailable,
                      "cannot read " + path + ": " + std::strerror(errno));
  return std::string{std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>()};
}

/// Writes `data` with `mode` under a temporary name and renames it into
/// place: a reader (the VMM, copying fw_cfg files) never sees half a key.
caf::expected<void> write_private(const std::string& path,
                                  const std::string& data) {
  auto tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(ec::unavailable,
                      "cannot create " + tmp + ": " + std::strerror(errno));
  std::string_view rest = data;
  while (!rest.empty()) {
    auto n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(ec::unavailable,
                        "cannot write " + tmp + ": " + std::strerror(err));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fchmod(fd, 0600) != 0 || ::close(fd) != 0
      || ::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = errno;
    ::unlink(tmp.c_str());
    return make_error(ec::unavailable,
                      "cannot install " + path + ": " + std::strerror(err));
  }
  return {};
}

} // namespace

caf::expected<std::string>
openssh_ed25519_to_dropbear(const std::string& openssh_private_pem) {
  auto begin = openssh_private_pem.find(pem_begin);
  auto end = openssh_private_pem.find(pem_end);
  if (begin == std::string::npos || end == std::string::npos || end < begin)
    return bad_key("no \"" + std::string(pem_begin)
                   + "\" block (PEM/PKCS#8 "
                     "keys are not supported)");
  std::string b64;
  for (auto i = begin + pem_begin.size(); i < end; ++i) {
    char c = openssh_private_pem[i];
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t')
      b64 += c;
  }
  std::string blob;
  try {
    blob = wire::base64_decode(b64);
  } catch (const wire::decode_error& e) {
    return bad_key(std::string("its base64 is damaged (") + e.what() + ")");
  }
  std::string_view data = blob;
  if (data.substr(0, magic.size()) != magic)
    return bad_key("the openssh-key-v1 header is missing");
  ssh_reader r(data.substr(magic.size()));
  std::string_view cipher, kdf, kdf_options, public_blob, private_section;
  std::uint32_t keys = 0;
  if (!r.string(cipher) || !r.string(kdf) || !r.string(kdf_options)
      || !r.u32(keys))
    return bad_key("it is truncated");
  if (cipher != "none" || kdf != "none")
    return bad_key("it is encrypted (cipher " + std::string(cipher)
                   + "); banger needs an unencrypted key (ssh-keygen -N \"\")");
  if (keys != 1)
    return bad_key("it holds " + std::to_string(keys) + " keys, not one");
  if (!r.string(public_blob) || !r.string(private_section))
    return bad_key("it is truncated");

  ssh_reader p(private_section);
  std::uint32_t check1 = 0, check2 = 0;
  std::string_view type, pub, priv;
  if (!p.u32(check1) || !p.u32(check2))
    return bad_key("its private section is truncated");
  if (check1 != check2)
    return bad_key("its check words differ (damaged, or encrypted)");
  if (!p.string(type))
    return bad_key("its private section is truncated");
  if (type != key_type)
    return bad_key("it is a " + std::string(type) + " key, not ssh-ed25519");
  if (!p.string(pub) || !p.string(priv))
    return bad_key("its private section is truncated");
  if (pub.size() != 32 || priv.size() != 64)
    return bad_key("its ed25519 key has the wrong length");
  // OpenSSH stores seed || public key; the second half must match.
  if (priv.substr(32) != pub)
    return bad_key("its private and public halves do not match");

  std::string out;
  put_string(out, key_type);
  put_string(out, priv);
  return out;
}

caf::expected<vm_host_key> make_vm_host_key(const std::string& dir) {
  vm_host_key key;
  key.private_openssh_path = dir + "/ssh_host_ed25519_key";
  key.public_openssh_path = key.private_openssh_path + ".pub";
  key.private_dropbear_path = dir + "/dropbear_ed25519_host_key";
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(ec::unavailable,
                      "cannot make a host key in " + dir
                          + ": it is not a directory (create the VM's "
                            "directory first)");
  // A fresh key each time: ssh-keygen would otherwise ask to overwrite.
  for (auto* path : {&key.private_openssh_path, &key.public_openssh_path,
                     &key.private_dropbear_path})
    if (::unlink(path->c_str()) != 0 && errno != ENOENT)
      return make_error(ec::unavailable, "cannot replace " + *path + ": "
                                             + std::strerror(errno));
  run_options opts;
  opts.timeout = std::chrono::seconds(30);
  auto r = run({"ssh-keygen", "-t", "ed25519", "-N", "", "-C", "banger-vm",
                "-q", "-f", key.private_openssh_path},
               opts);
  if (!r)
    return r.error();
  if (!r->ok())
    return make_error(
        ec::unavailable,
        "ssh-keygen failed to create " + key.private_openssh_path + ": "
            + trim_end(r->err + r->out + (r->timed_out ? " (timed out)" : ""))
            + "; check that " + dir + " is writable");
  auto pem = read_text(key.private_openssh_path);
  if (!pem)
    return pem.error();
  auto pub = read_text(key.public_openssh_path);
  if (!pub)
    return pub.error();
  key.public_line = trim_end(*pub);
  auto dropbear = openssh_ed25519_to_dropbear(*pem);
  if (!dropbear)
    return make_error(ec::internal,
                      "ssh-keygen wrote a key banger cannot convert ("
                          + error_message(dropbear.error())
                          + "); is ssh-keygen OpenSSH 7.8 or newer?");
  if (auto ok = write_private(key.private_dropbear_path, *dropbear); !ok)
    return ok.error();
  return key;
}

} // namespace banger
