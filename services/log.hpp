#pragma once
// A thin wrapper over spdlog: every line starts with the component (actor)
// that wrote it, as Tenzir does, so a daemon log reads like a trace.
//
// Messages often carry what a client or a guest sent (request types, VM
// names, error texts), and a root-written log must not let them forge lines:
// every message is one line, its control characters escaped.

#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace banger::log {

/// `text` with C0 control characters (except tab) and DEL written as \n,
/// \r, \e or \xNN, so that it stays one line and moves no cursor.
inline std::string escape_control(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out.push_back(c);
      continue;
    }
    switch (c) {
    case '\t':
      out.push_back('\t');
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\x1b':
      out += "\\e";
      break;
    default: {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 0xf]);
    }
    }
  }
  return out;
}

template <class... Ts>
void info(std::string_view who, spdlog::format_string_t<Ts...> fmt,
          Ts&&... xs) {
  spdlog::info("[{}] {}", who,
               escape_control(fmt::format(fmt, std::forward<Ts>(xs)...)));
}

template <class... Ts>
void warn(std::string_view who, spdlog::format_string_t<Ts...> fmt,
          Ts&&... xs) {
  spdlog::warn("[{}] {}", who,
               escape_control(fmt::format(fmt, std::forward<Ts>(xs)...)));
}

template <class... Ts>
void error(std::string_view who, spdlog::format_string_t<Ts...> fmt,
           Ts&&... xs) {
  spdlog::error("[{}] {}", who,
                escape_control(fmt::format(fmt, std::forward<Ts>(xs)...)));
}

} // namespace banger::log
