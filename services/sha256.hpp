#pragma once
// Incremental sha256 (OpenSSL EVP) shared by everything that verifies
// downloads: registry blobs, catalog bundles.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace banger {

class sha256_hasher {
public:
  sha256_hasher();
  ~sha256_hasher();
  sha256_hasher(const sha256_hasher&) = delete;
  sha256_hasher& operator=(const sha256_hasher&) = delete;

  void update(const void* data, std::size_t n);
  /// The digest as 64 lowercase hex digits; call once, after the last update.
  std::string hex();

private:
  evp_md_ctx_st* ctx_;
};

/// Streams downloaded bytes into an open file while hashing and counting,
/// refusing more than `limit` bytes: the body of every verified download.
/// Returns false (stop the transfer) on a write error or an overlong body.
struct hashed_writer {
  int fd = -1;
  std::uint64_t limit = 0;
  sha256_hasher hash;
  std::uint64_t done = 0;
  bool too_long = false;
  int write_errno = 0;

  hashed_writer(int fd_, std::uint64_t limit_) : fd(fd_), limit(limit_) {}
  bool write(const char* data, std::size_t n);
};

/// sha256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

/// True for exactly 64 lowercase hex digits.
bool is_sha256_hex(std::string_view s);

} // namespace banger
