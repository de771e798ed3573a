#include "services/file_magic.hpp"

#include <cstring>
#include <fstream>

namespace banger {

namespace {

bool has_bytes_at(const std::string& path, std::streamoff offset,
                  const char* magic, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(offset);
  std::string buf(n, '\0');
  return in.read(buf.data(), static_cast<std::streamsize>(n))
         && std::memcmp(buf.data(), magic, n) == 0;
}

} // namespace

bool is_ext_fs(const std::string& path) {
  return has_bytes_at(path, 1024 + 56, "\x53\xEF", 2);
}

bool is_elf(const std::string& path) {
  return has_bytes_at(path, 0, "\177ELF", 4);
}

bool is_bzimage(const std::string& path) {
  return has_bytes_at(path, 0x202, "HdrS", 4);
}

bool is_arm64_image(const std::string& path) {
  return has_bytes_at(path, 0x38, "ARM\x64", 4);
}

} // namespace banger
