#include "services/terminal_text.hpp"

#include <fmt/format.h>

namespace banger {

namespace {

/// The length of the well-formed UTF-8 sequence at text[i] (2-4), or 0.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) {
    return static_cast<unsigned char>(text[i + k]);
  };
  auto tail = [&](std::size_t k) {
    return i + k < text.size() && (byte(k) & 0xc0) == 0x80;
  };
  unsigned char c = byte(0);
  if (c >= 0xc2 && c <= 0xdf)
    return tail(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!tail(1) || !tail(2))
      return 0;
    // Overlong forms and UTF-16 surrogates are not UTF-8.
    if ((c == 0xe0 && byte(1) < 0xa0) || (c == 0xed && byte(1) > 0x9f))
      return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!tail(1) || !tail(2) || !tail(3))
      return 0;
    if ((c == 0xf0 && byte(1) < 0x90) || (c == 0xf4 && byte(1) > 0x8f))
      return 0;
    return 4;
  }
  return 0;
}

} // namespace

std::string terminal_safe(std::string_view text, bool keep_lines) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c >= 0x20 && c != 0x7f) || (keep_lines && (c == '\n' || c == '\t')))
        out += static_cast<char>(c);
      else
        out += fmt::format("\\x{:02x}", c);
      ++i;
      continue;
    }
    auto n = utf8_sequence(text, i);
    if (n == 0) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
      continue;
    }
    // U+0080..U+009F (C2 80..C2 9F): C1 controls, e.g. the one-byte CSI.
    if (n == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0)
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(text[i + 1]));
    else
      out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

} // namespace banger
