#include "services/sha256.hpp"

#include <cerrno>

#include <unistd.h>

#include <openssl/evp.h>

namespace banger {

sha256_hasher::sha256_hasher() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
}

sha256_hasher::~sha256_hasher() {
  EVP_MD_CTX_free(ctx_);
}

void sha256_hasher::update(const void* data, std::size_t n) {
  EVP_DigestUpdate(ctx_, data, n);
}

std::string sha256_hasher::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx_, md, &n);
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  sha256_hasher h;
  h.update(data.data(), data.size());
  return h.hex();
}

bool hashed_writer::write(const char* data, std::size_t n) {
  if (done + n > limit) {
    too_long = true;
    return false;
  }
  hash.update(data, n);
  for (std::size_t off = 0; off < n;) {
    auto w = ::write(fd, data + off, n - off);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      write_errno = errno;
      return false;
    }
    off += static_cast<std::size_t>(w);
  }
  done += n;
  return true;
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64)
    return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

} // namespace banger
